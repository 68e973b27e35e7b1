package app

import (
	"fmt"
	"time"
)

// alertPeriodWant describes an acceptable KMSMIG_ALERT_PERIOD.
const alertPeriodWant = "a duration of at least 1m, like 30m or 2h (de-duplication cannot be turned off)"

// LoadAlertConfig reads only what the alert path needs, apart from every
// other setting: where the audit trail goes (KMSMIG_AUDIT, KMSMIG_SLS_*,
// for the ALERT records), the webhook and DingTalk sinks, the alert
// period and KMSMIG_INSECURE (plain HTTP to a loopback webhook or
// logstore). A function whose full configuration LoadConfig refuses still
// raises its alert with it. Its checks are LoadConfig's for the same
// variables; the other fields of the Config are zero.
func LoadAlertConfig(getenv func(string) string) (Config, error) {
	s := &settings{getenv: getenv}
	var c Config
	c.Insecure = s.boolean("KMSMIG_INSECURE")
	c.SLSEndpoint = s.string("KMSMIG_SLS_ENDPOINT")
	c.SLSProject = s.string("KMSMIG_SLS_PROJECT")
	c.SLSLogstore = s.string("KMSMIG_SLS_LOGSTORE")
	c.DingTalkSecret = s.string("KMSMIG_DINGTALK_SECRET")
	c.AlertPeriod = s.duration("KMSMIG_ALERT_PERIOD", time.Hour, time.Minute, forever, alertPeriodWant)
	c.loadObservability(s)
	if c.SLSEndpoint != "" {
		c.endpoint(s, "KMSMIG_SLS_ENDPOINT", c.SLSEndpoint)
	}
	c.checkAlertHTTP(s)
	if err := s.err(); err != nil {
		return Config{}, fmt.Errorf("alert configuration: %w", err)
	}
	return c, nil
}
