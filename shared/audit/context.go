package audit

import (
	"context"
	"time"
)

// Scope is what stays the same for every record of one invocation: the run,
// the FC request, the function, and the lane being worked on.
type Scope struct {
	RunID     string
	RequestID string
	Function  string
	Account   string
	Region    string
}

type scopeKey struct{}

// WithScope returns a context carrying s merged over any scope ctx already
// carries: the non-empty fields of s win.
func WithScope(ctx context.Context, s Scope) context.Context {
	old := ScopeFrom(ctx)
	if s.RunID == "" {
		s.RunID = old.RunID
	}
	if s.RequestID == "" {
		s.RequestID = old.RequestID
	}
	if s.Function == "" {
		s.Function = old.Function
	}
	if s.Account == "" {
		s.Account = old.Account
	}
	if s.Region == "" {
		s.Region = old.Region
	}
	return context.WithValue(ctx, scopeKey{}, s)
}

// ScopeFrom returns the scope ctx carries, or the zero Scope.
func ScopeFrom(ctx context.Context) Scope {
	s, _ := ctx.Value(scopeKey{}).(Scope)
	return s
}

// Enrich returns a Logger that completes each record from the context's
// Scope (fields the record leaves empty), stamps the time when it is zero
// and defaults the level to INFO, then passes it to next; callers then only
// fill in what varies. Flush and Stats are next's.
func Enrich(next Logger) Logger { return enriched{next} }

type enriched struct{ next Logger }

func (e enriched) Log(ctx context.Context, r Record) {
	s := ScopeFrom(ctx)
	if r.RunID == "" {
		r.RunID = s.RunID
	}
	if r.RequestID == "" {
		r.RequestID = s.RequestID
	}
	if r.Function == "" {
		r.Function = s.Function
	}
	if r.Account == "" {
		r.Account = s.Account
	}
	if r.Region == "" {
		r.Region = s.Region
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Level == "" {
		r.Level = LevelInfo
	}
	e.next.Log(ctx, r)
}

func (e enriched) Flush(ctx context.Context) error { return e.next.Flush(ctx) }
func (e enriched) Stats() Stats                    { return e.next.Stats() }

var _ Logger = enriched{}
