package rehearsal

import (
	"testing"
	"time"
)

// The rehearsal waits in a poll as long as s.yaml deploys, scaled by the
// clock's speed in load; what s.yaml cannot mean is refused.
func TestDeployedPollWait(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{value: "50s", want: 50 * time.Second},
		{value: "1m30s", want: 90 * time.Second},
		{value: "", want: 0},
		{value: "fifty", bad: true},
		{value: "-5s", bad: true},
	} {
		t.Run(tc.value, func(t *testing.T) {
			got, err := deployedPollWait(map[string]string{"KMSMIG_POLL_WAIT": tc.value})
			if (err != nil) != tc.bad {
				t.Fatalf("deployedPollWait(%q) error %v, want error %v", tc.value, err, tc.bad)
			}
			if got != tc.want {
				t.Errorf("deployedPollWait(%q) = %s, want %s", tc.value, got, tc.want)
			}
		})
	}
}
