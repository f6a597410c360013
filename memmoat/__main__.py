from memmoat.cli import main

main()
