"""The sandbox: a local Bot API server, its control API and a page with two chats."""
