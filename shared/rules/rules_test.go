package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestCheckInstance(t *testing.T) {
	now := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  string
		expires time.Time
		want    InstanceProblem
	}{
		{"connected, ends later", "Connected", now.Add(time.Second), InstanceUsable},
		{"connected, end unknown", "Connected", time.Time{}, InstanceUsable},
		{"ends exactly now", "Connected", now, InstanceExpired},
		{"ended", "Connected", now.Add(-time.Hour), InstanceExpired},
		{"expired wins over disconnected", "Disconnected", now.Add(-time.Hour), InstanceExpired},
		{"disconnected", "Disconnected", now.AddDate(1, 0, 0), InstanceNotConnected},
		{"connecting", "Connecting", now.AddDate(1, 0, 0), InstanceNotConnected},
		{"error", "Error", now.AddDate(1, 0, 0), InstanceNotConnected},
		{"status not reported", "", now.AddDate(1, 0, 0), InstanceNotConnected},
		{"status case matters", "connected", now.AddDate(1, 0, 0), InstanceNotConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, CheckInstance(tt.status, tt.expires, now))
		})
	}
}

func TestMayMigrateInto(t *testing.T) {
	assert.Equal(t, []string{"1111", "2222", "3333"}, MayMigrateInto("2222", []string{"3333", "1111", "2222", ""}))
	assert.Equal(t, []string{"1111"}, MayMigrateInto("", []string{"1111"}))
	assert.Empty(t, MayMigrateInto("", nil))
}

func TestOtherHolders(t *testing.T) {
	var h SecretHolders
	assert.Empty(t, h.OtherHolders("1111", "x"), "the zero value holds nothing")
	h.Add("3333", "dup")
	h.Add("1111", "dup")
	h.Add("1111", "dup") // twice in one account: still one holder
	h.Add("2222", "dup")
	h.Add("1111", "mine")
	assert.Equal(t, []string{"2222", "3333"}, h.OtherHolders("1111", "dup"))
	assert.Equal(t, []string{"1111", "3333"}, h.OtherHolders("2222", "dup"))
	assert.Equal(t, []string{"1111", "2222", "3333"}, h.OtherHolders("9999", "dup"), "an account not holding the name sees every holder")
	assert.Empty(t, h.OtherHolders("1111", "mine"), "a name of one account only does not clash")
	assert.Empty(t, h.OtherHolders("1111", "absent"))
}
