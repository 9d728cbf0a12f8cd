from reminderbot.cli import main

raise SystemExit(main())
