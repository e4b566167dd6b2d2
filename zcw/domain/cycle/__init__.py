"""The controller's parts, each with its own state and one question (see docs/architecture.md).

- :mod:`.phases`: where the cycle is, as one transition table;
- :mod:`.run`: one loop's part in a cycle, and the cycle's own record;
- :mod:`.rise`: what the loop's reading has done in the cycle (its rises);
- :mod:`.stops`: the stop policies, a chain that each answers "is the hot water there?";
- :mod:`.heater_check`: I6, the heater must fire (and I4's stuck sensor, which needs it);
- :mod:`.cold_line`: I5, the cold line, before the stop (T_cold) and after it (late_stop);
- :mod:`.teacher`: what each loop learns from its cycles;
- :mod:`.admission`: what a start request gets;
- :mod:`.sensor_board`, :mod:`.events`: validated readings, events and faults;
- :mod:`.views`: what the world sees (Snapshot, LoopView, CycleSummary, Decision).
"""
