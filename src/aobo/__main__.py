from aobo.cli.app import main

main()
