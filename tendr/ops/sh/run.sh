# tendr run: the command in a process group of its own, its number kept under a nonce
# in root's /run/tendr-run, so that an interrupted run stops it (stop-run.sh) rather
# than leave it running. $1 the nonce, then the command and its arguments.
nonce=$1
shift
dir=/run/tendr-run
[ -d "$dir" ] || mkdir -m 0700 "$dir" 2>/dev/null
if [ -L "$dir" ] || [ "$(stat -c %u "$dir" 2>/dev/null)" != "$(id -u)" ]; then
    echo "tendr: $dir is not this account's own folder: refused" >&2
    exit 125
fi
setsid "$@" &
pid=$!
echo "$pid" > "$dir/$nonce"
wait "$pid"
status=$?
rm -f -- "$dir/$nonce"
exit "$status"
