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
