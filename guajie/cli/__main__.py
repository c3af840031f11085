from guajie.cli import main

main()
