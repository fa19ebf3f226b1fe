from inbox_watcher.cli import main

raise SystemExit(main())
