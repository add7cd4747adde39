"""Facts every stage uses: secret masking, structured logs, config documents
and their errors, durations, exit codes and signals. Internal to tillflow."""
