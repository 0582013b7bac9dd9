from riskrelay.cli.app import main

main()
