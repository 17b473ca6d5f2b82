#!/bin/sh
# ipmi_sim's chassis_control hook: answers "get power" from a state file and records
# every "set power N" there, so a test can see exactly what reached the BMC.
# Usage (by ipmi_sim): chassis_control.sh STATEDIR MC get|set PARAM [VALUE] ...
# STATEDIR/power holds 0 or 1; STATEDIR/commands.log gets one line per set, and
# STATEDIR/commands.timed the same line after the wall time it arrived (milliseconds);
# STATEDIR/delay_ms (optional, milliseconds) makes the new state show only after that long,
# as a real chassis takes time to change.
dir=$1; shift; shift
op=$1; shift
power_file="$dir/power"
[ -f "$power_file" ] || echo 0 > "$power_file"
if [ "$op" = get ]; then
    for param in "$@"; do
        case $param in
            power)
                state=$(cat "$power_file")
                if [ -f "$dir/pending" ]; then
                    read -r target due < "$dir/pending"
                    if [ "$(date +%s%3N)" -ge "$due" ]; then
                        echo "$target" > "$power_file"; rm -f "$dir/pending"; state=$target
                    fi
                fi
                echo "power:$state" ;;
        esac
    done
elif [ "$op" = set ]; then
    while [ $# -ge 2 ]; do
        param=$1; value=$2; shift 2
        echo "set $param $value" >> "$dir/commands.log"
        echo "$(date +%s%3N) set $param $value" >> "$dir/commands.timed"
        # A soft shutdown (ACPI) ends with the power off, as an obliging OS would.
        [ "$param" = shutdown ] && [ "$value" = 1 ] && { param=power; value=0; }
        if [ "$param" = power ]; then
            if [ -s "$dir/delay_ms" ]; then
                due=$(( $(date +%s%3N) + $(cat "$dir/delay_ms") ))
                echo "$value $due" > "$dir/pending"
            else
                echo "$value" > "$power_file"
            fi
        fi
    done
fi
exit 0
