"""What a report looks like outside the terminal: the data-flow diagram, the one-file HTML report, the plots."""
