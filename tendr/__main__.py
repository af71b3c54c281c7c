from tendr.cli import main

main()
