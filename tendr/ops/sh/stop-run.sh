# Stop the command of an interrupted tendr run: its whole process group, TERM, then
# KILL after 5 s. $1 the run's nonce; nothing to do when it ended already.
file=/run/tendr-run/$1
if [ ! -f "$file" ] || [ -L "$file" ]; then
    exit 0
fi
pid=$(cat "$file")
case $pid in
    '' | *[!0-9]*) exit 0 ;;
esac
kill -s TERM -- "-$pid" 2>/dev/null || exit 0
tries=0
while [ "$tries" -lt 20 ] && kill -s 0 -- "-$pid" 2>/dev/null; do
    sleep 0.25
    tries=$((tries + 1))
done
kill -s KILL -- "-$pid" 2>/dev/null
rm -f -- "$file"
echo "stopped"
