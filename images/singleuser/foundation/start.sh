#!/bin/bash
# Entry point of the single-user images (ENTRYPOINT ["tini", "-g", "--", "start.sh"]).
# Our own small equivalent of Jupyter Docker Stacks' start.sh, which the public pyiron
# images inherit from base-notebook, honouring the same contract for a container that
# runs as jovyan (uid 1000):
#   1. run the hooks in /usr/local/bin/before-notebook.d/ (and the older name
#      start-notebook.d/), in name order: *.sh files are sourced, so they can export
#      variables for the command; other executable files are run; the rest is ignored.
#      A failing hook is reported and the start goes on, as upstream.
#   2. exec the command ("$@"; bash when there is none), so it gets tini's signals.
# Not emulated: upstream's root mode (switching to NB_USER, NB_UID/NB_GID/GRANT_SUDO,
# CHOWN_HOME) -- the hub never starts these images as root.

run_hooks() {
    local dir="$1" hook
    [ -d "$dir" ] || return 0
    for hook in "$dir"/*; do
        [ -e "$hook" ] || continue
        case "$hook" in
            *.sh)
                echo "start.sh: sourcing $hook" >&2
                # shellcheck disable=SC1090  # the hooks are the image's
                source "$hook" || echo "start.sh: $hook failed ($?), going on" >&2
                ;;
            *)
                if [ -x "$hook" ]; then
                    echo "start.sh: running $hook" >&2
                    "$hook" || echo "start.sh: $hook failed ($?), going on" >&2
                else
                    echo "start.sh: ignoring $hook (neither *.sh nor executable)" >&2
                fi
                ;;
        esac
    done
}

run_hooks /usr/local/bin/start-notebook.d
run_hooks /usr/local/bin/before-notebook.d

[ "$#" -gt 0 ] || set -- bash
exec "$@"
