package app

import "github.com/kmsmig/kmsmig/shared/plan"

// ObserveBatchTotal is the default KMSMIG_BATCH_TOTAL of the observe
// backend: the console's manual selection takes "up to 50 keys and secrets
// in total", and an observe batch is started there.
const ObserveBatchTotal = 50

// loadProviderRules reads the settings that choose between the
// provider's readings of its own limits: KMSMIG_BATCH_TOTAL (1..100, keys
// plus secrets per batch; default none for the task backend, 50 for the
// observe backend) and KMSMIG_STRICT_KEY_VERSIONS (true: keys with several
// versions are blocked). It runs after loadSchedule, which sets Backend.
func (c *Config) loadProviderRules(s *settings) {
	def := 0
	if c.Backend == "observe" {
		def = ObserveBatchTotal
	}
	c.Plan.MaxResources = s.intRange("KMSMIG_BATCH_TOTAL", def, 1, 2*plan.MaxPerKind)
	c.StrictKeyVersions = s.boolean("KMSMIG_STRICT_KEY_VERSIONS")
}
