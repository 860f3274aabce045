// Package ratelimit counts requests in fixed windows stored in the database,
// so that a limit holds across every Sésame instance sharing it.
//
// Fiber's limiter middleware was not used: with a shared storage it reads,
// changes and writes the counter in three steps, so two instances can both
// let a request through; here each hit claims its own rank with a unique
// insert (see the store's Hit), atomic on every MongoDB-compatible server.
package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Store counts hits atomically.
type Store interface {
	// Hit adds one to the counter key (creating it) and returns the new
	// count. The counter may be deleted after expires.
	Hit(ctx context.Context, key string, expires time.Time) (int, error)
}

// Limiter applies fixed-window limits.
type Limiter struct {
	store Store
	now   func() time.Time
}

// New returns a Limiter over store.
func New(store Store, now func() time.Time) *Limiter {
	return &Limiter{store: store, now: now}
}

// Decision is the outcome of one hit.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // until the window ends, when not allowed
}

// Allow counts one hit on key and allows it while the window's count is at
// most limit. A refused hit is still counted, so that hammering does not
// shorten the wait. The limit never locks an account for good: the window
// ends on its own.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	now := l.now()
	start := now.Truncate(window)
	end := start.Add(window)
	n, err := l.store.Hit(ctx, fmt.Sprintf("%s|%d", key, start.Unix()), end)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %w", err)
	}
	if n > limit {
		return Decision{RetryAfter: end.Sub(now)}, nil
	}
	return Decision{Allowed: true}, nil
}

// Cooldown allows one hit on key per window, with no boundary to slip
// through: a fixed window alone lets a double click straddling its end
// pass twice. Each hit is counted in two grids of windows, the second
// shifted by half a window, and allowed only when it is the first in both;
// two hits less than half a window apart always share a window of one grid.
// So hits are at least half a window apart. Both counts are taken
// (atomically, before the decision) even when the first refuses, so that
// hammering does not shorten the wait; a refused hit therefore counts in
// both grids' current windows, and the wait it announces runs until both
// have ended (never more than a window): a hit then is allowed.
func (l *Limiter) Cooldown(ctx context.Context, key string, window time.Duration) (Decision, error) {
	now := l.now()
	refused := false
	var last time.Time
	for _, grid := range []struct {
		name  string
		shift time.Duration
	}{{"a", 0}, {"b", window / 2}} {
		start := now.Add(-grid.shift).Truncate(window).Add(grid.shift)
		end := start.Add(window)
		n, err := l.store.Hit(ctx, fmt.Sprintf("%s|%s%d", key, grid.name, start.Unix()), end)
		if err != nil {
			return Decision{}, fmt.Errorf("ratelimit: %w", err)
		}
		refused = refused || n > 1
		if end.After(last) {
			last = end
		}
	}
	if refused {
		return Decision{RetryAfter: last.Sub(now)}, nil
	}
	return Decision{Allowed: true}, nil
}
