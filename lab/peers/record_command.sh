#!/bin/sh
# sshd forced command: record what the client asked to run instead of running it.
# Usage (in authorized_keys): command="record_command.sh LOGFILE [EXIT_CODE]"
printf '%s\n' "$SSH_ORIGINAL_COMMAND" >> "$1"
echo "recorded: $SSH_ORIGINAL_COMMAND"
exit "${2:-0}"
