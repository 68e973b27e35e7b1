package wiring

// The window's time zone (KMSMIG_TIMEZONE, e.g. Asia/Shanghai) must load
// whatever the runtime image ships: Function Compute's go1 runtime makes
// no promise about /usr/share/zoneinfo. Embedding the zone database costs
// about 450 KB per binary.
import _ "time/tzdata"
