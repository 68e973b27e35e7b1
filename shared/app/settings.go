package app

import (
	"errors"
	"fmt"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// settings reads environment variables for LoadConfig. Every value is
// trimmed of surrounding spaces (spaces only: unset). A bad value is
// recorded, naming its variable, and the default is returned, so that one
// pass reports every bad setting.
type settings struct {
	getenv func(string) string
	errs   []error
}

// bad records a bad setting of variable name.
func (s *settings) bad(name, format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// err joins every bad setting; nil when there is none.
func (s *settings) err() error { return errors.Join(s.errs...) }

// string returns the trimmed value of name.
func (s *settings) string(name string) string { return strings.TrimSpace(s.getenv(name)) }

// stringOr returns the value of name, or def when it is unset.
func (s *settings) stringOr(name, def string) string {
	if v := s.string(name); v != "" {
		return v
	}
	return def
}

// duration reads a Go duration from lowest to highest (both included);
// want describes an acceptable value in the error.
func (s *settings) duration(name string, def, lowest, highest time.Duration, want string) time.Duration {
	v := s.string(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lowest || d > highest {
		s.bad(name, "%q: want %s", v, want)
		return def
	}
	return d
}

// intRange reads a whole number from lowest to highest (both included).
func (s *settings) intRange(name string, def, lowest, highest int) int {
	v := s.string(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest || n > highest {
		s.bad(name, "%q: must be a whole number from %d to %d", v, lowest, highest)
		return def
	}
	return n
}

// choice reads one of options; unset is the first.
func (s *settings) choice(name string, options ...string) string {
	v := s.string(name)
	if v == "" {
		return options[0]
	}
	if !slices.Contains(options, v) {
		last := len(options) - 1
		s.bad(name, "%q: want %s or %s", v, strings.Join(options[:last], ", "), options[last])
		return options[0]
	}
	return v
}

// boolean reads true or false (strconv.ParseBool); unset is false.
func (s *settings) boolean(name string) bool {
	v := s.string(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		s.bad(name, "%q is not true or false", v)
	}
	return b
}

// url reads an absolute http(s) URL with a host and no user; unset is
// empty. The value is never quoted in the error: webhook URLs carry their
// token in the path or query. Plain http:// is checked with the other
// endpoints (Config.checkPlainHTTP).
func (s *settings) url(name string) string {
	v := s.string(name)
	if v == "" {
		return ""
	}
	u, err := neturl.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		s.bad(name, "must be an http(s) URL with a host and no user (the value is not shown: it holds a token)")
		return ""
	}
	return v
}

// list reads the distinct non-empty elements of a sep-separated list.
func (s *settings) list(name, sep string) []string { return list(s.string(name), sep) }

// pairs reads key=value,...; a malformed one is reported and reads as
// none.
func (s *settings) pairs(name string) map[string]string {
	m, err := pairs(s.string(name))
	if err != nil {
		s.bad(name, "%v", err)
	}
	return m
}

// hasBody reports whether s is prefix followed by something.
func hasBody(s, prefix string) bool { return strings.HasPrefix(s, prefix) && len(s) > len(prefix) }

// list splits s at sep and returns the distinct non-empty trimmed parts.
func list(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// pairs parses k=v,k=v.
func pairs(s string) (map[string]string, error) {
	var out map[string]string
	for _, p := range list(s, ",") {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: want key=value", p)
		}
		if out == nil {
			out = map[string]string{}
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%q is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func regionLike(s string) bool {
	if s == "" || strings.Count(s, "-") < 1 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// intRangeWhy is intRange whose refusal also says why the bounds are what
// they are.
func (s *settings) intRangeWhy(name string, def, lowest, highest int, why string) int {
	v := s.string(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lowest || n > highest {
		s.bad(name, "%q: must be a whole number from %d to %d (%s)", v, lowest, highest, why)
		return def
	}
	return n
}
