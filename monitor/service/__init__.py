"""The long-running process: the timetable, jobs and their runs, follow-up polls, one leader,
the status page beside them."""
