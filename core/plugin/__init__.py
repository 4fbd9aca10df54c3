"""What plugins are and how they are found: hook specs, the registry, the options model and
the interface of every kind of plugin (solvers, loaders, heuristics, searches, executors,
repair methods, trainers)."""
