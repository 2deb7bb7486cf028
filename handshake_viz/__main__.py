from handshake_viz.launch import main

raise SystemExit(main())
