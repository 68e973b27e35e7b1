package migration

// TransitionTable lists the From → To pairs of the transition table, for
// the tests of package migration_test.
func TransitionTable() [][2]Phase {
	out := make([][2]Phase, len(transitions))
	for i, e := range transitions {
		out[i] = [2]Phase{e.From, e.To}
	}
	return out
}
