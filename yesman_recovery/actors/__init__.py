"""Domain actors and the pure parts they decide with.

Actors: :class:`~.session.SessionActor` (one per watched tmux session),
:class:`~.watcher.TmuxWatcher` (observes the server, feeds the session actors, adopts sessions),
:class:`~.maintenance.StoreMaintenance` (retention and reader checks), assembled into the
``tmux`` subtree by :func:`~.tree.tmux_subtree`.

Pure parts, tested without threads or tmux: :mod:`.diagnosis` (what is wrong),
:mod:`.checkpointing` (whether and what to checkpoint), :mod:`.stops` (stopped programs),
:mod:`.limits` (per-kind recovery intensity and give-up). Helpers the actors own:
:mod:`.recovery` (restore, repair, respawn through tmux), :mod:`.adopted` (the adopted-session
list), :mod:`.server_health` (an unresponsive server), :mod:`.pidwatch` (exits as events),
:mod:`.context` (observations, settings and the shared context).
"""
