"""The shell-integration snippets for bash, zsh and fish: text only, nothing runs here.

Each snippet, sourced by an interactive shell inside tmux, reports through pane options of its
own pane (``$TMUX_PANE``), in one ``tmux`` call each time:

=====================  ==========================================================================
``@yr_cmd_shell``      the pid of the reporting shell (the daemon trusts a report only when it is
                       the pane's own process, so a nested shell's report is ignored)
``@yr_cmd_line``       the command line the shell started last (bash: its first simple command,
                       as bash reprints it)
``@yr_cmd_start``      the number of commands the shell has started (set when one starts)
``@yr_cmd_end``        the number of the last command that ended, set with ``@yr_cmd_status``,
                       its exit status (``128 + N`` after signal N)
=====================  ==========================================================================

A command runs while ``start > end``. At its first prompt a shell clears the line and the
status and sets both numbers to 0 and its pid, waiting for tmux: "at its prompt, nothing run
yet". Later reports do not wait: each is one ``tmux`` process in the background (a prompt must
not wait for tmux), so two may land in either order; the numbers make the result the same (the
end of command N also sets ``start`` to N).

The hooks chain with the user's own and never replace them: bash puts its hook first in
``PROMPT_COMMAND`` (an array from bash 5.1 on) and keeps ``$?`` for the hooks after it, uses
bash-preexec's arrays when bash-preexec is loaded, else a ``DEBUG`` trap that runs the user's
own ``DEBUG`` trap too; zsh uses ``precmd_functions`` (first) and ``preexec_functions``; fish
uses its ``fish_preexec``/``fish_postexec``/``fish_prompt`` events. A snippet sourced twice
installs once (a guard variable, not exported: a nested shell installs its own). An empty Enter
costs nothing; a command costs the start of one background ``tmux`` process at its start and one
at its end (``benchmarks/bench_shell_prompt.py``). Outside tmux the snippets do nothing.
"""

from __future__ import annotations

SHELLS = ("bash", "zsh", "fish")
"""Shells with a snippet."""

LINE_OPTION = "@yr_cmd_line"
STATUS_OPTION = "@yr_cmd_status"
SHELL_OPTION = "@yr_cmd_shell"
START_OPTION = "@yr_cmd_start"
END_OPTION = "@yr_cmd_end"

BASH = r"""# yesman-recovery shell integration (bash): reports each command's start and end to tmux
if [ -n "${TMUX_PANE-}" ] && [ -z "${__yr_installed-}" ] && [[ $- == *i* ]]; then
__yr_installed=1
__yr_ran=
__yr_armed=
__yr_seq=0
__yr_line=
__yr_send() {  # in the background, without a job number or a "Done" message
    local m=$-
    set +m
    command tmux "$@" </dev/null >/dev/null 2>&1 &
    disown
    [[ $m != *m* ]] || set -m
} 2>/dev/null
__yr_precmd() {
    local s=$?
    if [ -n "$__yr_ran" ]; then
        __yr_ran=
        __yr_send set-option -p -t "$TMUX_PANE" @yr_cmd_status "$s" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_line "$__yr_line" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_start "$__yr_seq" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_end "$__yr_seq" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_shell "$$"
    elif [ -z "${__yr_ready-}" ]; then
        __yr_ready=1
        command tmux set-option -p -u -t "$TMUX_PANE" @yr_cmd_line \; \
            set-option -p -u -t "$TMUX_PANE" @yr_cmd_status \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_start 0 \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_end 0 \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_shell "$$" </dev/null >/dev/null 2>&1
    fi
    return "$s"
}
__yr_arm() { __yr_armed=1; }
__yr_preexec() {
    [ -n "$__yr_armed" ] || return 0
    __yr_armed=
    [ "$1" != __yr_precmd ] || return 0  # an empty line: the prompt's own hook
    __yr_ran=1
    __yr_seq=$((__yr_seq + 1))
    __yr_line=$1
    __yr_send set-option -p -t "$TMUX_PANE" @yr_cmd_line "$1" \; \
        set-option -p -t "$TMUX_PANE" @yr_cmd_start "$__yr_seq" \; \
        set-option -p -t "$TMUX_PANE" @yr_cmd_shell "$$"
}
if [ -n "${bash_preexec_imported-}${__bp_imported-}" ]; then
    precmd_functions=(__yr_precmd "${precmd_functions[@]}" __yr_arm)
    preexec_functions+=(__yr_preexec)
else
    if (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 501 )); then
        PROMPT_COMMAND=(__yr_precmd "${PROMPT_COMMAND[@]}" __yr_arm)
    else
        PROMPT_COMMAND="__yr_precmd${PROMPT_COMMAND:+;$PROMPT_COMMAND};__yr_arm"
    fi
    __yr_user_debug=$(trap -p DEBUG)
    __yr_user_debug=${__yr_user_debug#trap -- }
    __yr_user_debug=${__yr_user_debug% DEBUG}
    eval "__yr_user_debug=${__yr_user_debug:-''}"
    __yr_debug() {
        local s=$?
        [ -n "${COMP_LINE-}" ] || __yr_preexec "$BASH_COMMAND"
        if [ -n "$__yr_user_debug" ]; then
            (exit "$s")
            eval "$__yr_user_debug"
        fi
    }
    trap '__yr_debug' DEBUG
fi
fi
"""

ZSH = r"""# yesman-recovery shell integration (zsh): reports each command's start and end to tmux
if [[ -n ${TMUX_PANE-} && -z ${__yr_installed-} && -o interactive ]]; then
typeset -g __yr_installed=1 __yr_ran= __yr_ready= __yr_seq=0 __yr_line=
__yr_send() { command tmux "$@" </dev/null >/dev/null 2>&1 &! }
__yr_precmd() {
    local s=$?
    if [[ -n $__yr_ran ]]; then
        __yr_ran=
        __yr_send set-option -p -t "$TMUX_PANE" @yr_cmd_status "$s" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_line "$__yr_line" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_start "$__yr_seq" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_end "$__yr_seq" \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_shell "$$"
    elif [[ -z $__yr_ready ]]; then
        __yr_ready=1
        command tmux set-option -p -u -t "$TMUX_PANE" @yr_cmd_line \; \
            set-option -p -u -t "$TMUX_PANE" @yr_cmd_status \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_start 0 \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_end 0 \; \
            set-option -p -t "$TMUX_PANE" @yr_cmd_shell "$$" </dev/null >/dev/null 2>&1
    fi
    return $s
}
__yr_preexec() {
    __yr_ran=1
    (( __yr_seq++ ))
    __yr_line=$1
    __yr_send set-option -p -t "$TMUX_PANE" @yr_cmd_line "$1" \; \
        set-option -p -t "$TMUX_PANE" @yr_cmd_start "$__yr_seq" \; \
        set-option -p -t "$TMUX_PANE" @yr_cmd_shell "$$"
}
typeset -ga precmd_functions preexec_functions
precmd_functions=(__yr_precmd ${precmd_functions:#__yr_precmd})
preexec_functions=(${preexec_functions:#__yr_preexec} __yr_preexec)
fi
"""

FISH = r"""# yesman-recovery shell integration (fish): reports each command's start and end to tmux
if set -q TMUX_PANE; and not set -q __yr_installed; and status is-interactive
set -g __yr_installed 1
set -g __yr_seq 0
set -g __yr_line ''
function __yr_send  # in the background (fish prints nothing when such a job ends)
    command tmux $argv </dev/null >/dev/null 2>&1 &
end
function __yr_preexec --on-event fish_preexec
    set -g __yr_seq (math $__yr_seq + 1)
    set -g __yr_line $argv[1]
    __yr_send set-option -p -t $TMUX_PANE @yr_cmd_line $argv[1] \; \
        set-option -p -t $TMUX_PANE @yr_cmd_start $__yr_seq \; \
        set-option -p -t $TMUX_PANE @yr_cmd_shell $fish_pid
end
function __yr_postexec --on-event fish_postexec
    set -l s $status
    __yr_send set-option -p -t $TMUX_PANE @yr_cmd_status $s \; \
        set-option -p -t $TMUX_PANE @yr_cmd_line $__yr_line \; \
        set-option -p -t $TMUX_PANE @yr_cmd_start $__yr_seq \; \
        set-option -p -t $TMUX_PANE @yr_cmd_end $__yr_seq \; \
        set-option -p -t $TMUX_PANE @yr_cmd_shell $fish_pid
end
function __yr_prompt --on-event fish_prompt
    if not set -q __yr_ready
        set -g __yr_ready 1
        command tmux set-option -p -u -t $TMUX_PANE @yr_cmd_line \; \
            set-option -p -u -t $TMUX_PANE @yr_cmd_status \; \
            set-option -p -t $TMUX_PANE @yr_cmd_start 0 \; \
            set-option -p -t $TMUX_PANE @yr_cmd_end 0 \; \
            set-option -p -t $TMUX_PANE @yr_cmd_shell $fish_pid </dev/null >/dev/null 2>&1
    end
end
end
"""

SNIPPETS = {"bash": BASH, "zsh": ZSH, "fish": FISH}
