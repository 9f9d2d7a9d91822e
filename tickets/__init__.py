"""Pure domain of gridbot: tickets, the grid directory, the closed loop. No I/O, no clock."""
