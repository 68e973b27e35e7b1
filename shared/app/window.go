package app

import (
	"fmt"
	"strings"
	"time"
)

// DailyWindow is an off-hours window repeated every day, in local clock
// time; End before Start means the window crosses midnight.
type DailyWindow struct {
	Start, End time.Duration // since local midnight
}

// ParseDailyWindow reads "HH:MM-HH:MM". It returns an error naming the
// part at fault.
func ParseDailyWindow(s string) (DailyWindow, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return DailyWindow{}, fmt.Errorf("%q: want HH:MM-HH:MM, e.g. 02:00-06:00", s)
	}
	start, err := clock(a)
	if err != nil {
		return DailyWindow{}, fmt.Errorf("%q: start: %v", s, err)
	}
	end, err := clock(b)
	if err != nil {
		return DailyWindow{}, fmt.Errorf("%q: end: %v", s, err)
	}
	if start == end {
		return DailyWindow{}, fmt.Errorf("%q: start and end are equal", s)
	}
	return DailyWindow{Start: start, End: end}, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// At returns the window that is open at now, or else the next one, as
// absolute times in loc.
func (w DailyWindow) At(now time.Time, loc *time.Location) (start, end time.Time) {
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for day := -1; day <= 1; day++ {
		base := midnight.AddDate(0, 0, day)
		s, e := base.Add(w.Start), base.Add(w.End)
		if w.End < w.Start {
			e = e.AddDate(0, 0, 1)
		}
		if now.Before(e) {
			return s, e
		}
	}
	base := midnight.AddDate(0, 0, 2)
	return base.Add(w.Start), base.Add(w.End)
}

// Last returns the latest window that has opened at or before now (open
// now, or closed since), as absolute times in loc: the window a task in
// flight after its end has overrun. At returns the next one instead once
// a window has closed.
func (w DailyWindow) Last(now time.Time, loc *time.Location) (start, end time.Time) {
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for day := 0; ; day-- {
		base := midnight.AddDate(0, 0, day)
		s, e := base.Add(w.Start), base.Add(w.End)
		if w.End < w.Start {
			e = e.AddDate(0, 0, 1)
		}
		if !s.After(now) {
			return s, e
		}
	}
}
