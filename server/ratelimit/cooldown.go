package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// CooldownStore is what a cooldown needs of the store: a key's deadline,
// and the unique claim that lets one caller alone move it.
type CooldownStore interface {
	Claim(ctx context.Context, key string, expires time.Time) (bool, error)
	ThrottleState(ctx context.Context, key string) (gen int, blockedUntil time.Time, refunds int, err error)
	Block(ctx context.Context, key string, until, expires time.Time) error
}

// Cooldowns space out an action per key by a fixed wait, exactly: the
// office's « Envoyer un code » sends at most one code a minute to a person,
// whatever the clicks. A fixed window of the Limiter would let a double
// click across the window's end through twice.
//
// A refused attempt writes nothing, so clicking again does not lengthen
// the wait: whoever waits as told is let through. An allowed one claims
// the key's current deadline with a unique insert (atomic on every
// MongoDB-compatible server, across instances): of two attempts that read
// the same deadline at once, one wins; it then sets the next deadline.
type Cooldowns struct {
	store CooldownStore
	now   func() time.Time
}

// NewCooldowns returns Cooldowns over store.
func NewCooldowns(store CooldownStore, now func() time.Time) *Cooldowns {
	return &Cooldowns{store: store, now: now}
}

// Take allows the action on key when wait has passed since the last one
// allowed, and starts a new wait.
func (c *Cooldowns) Take(ctx context.Context, key string, wait time.Duration) (Decision, error) {
	key = "cooldown|" + key
	_, until, _, err := c.store.ThrottleState(ctx, key)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: cooldown: %w", err)
	}
	now := c.now()
	if d := until.Sub(now); d > 0 {
		return Decision{RetryAfter: d}, nil
	}
	expires := now.Add(wait + time.Hour)
	ok, err := c.store.Claim(ctx, fmt.Sprintf("%s|%d", key, until.UnixNano()), expires)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: cooldown: %w", err)
	}
	if !ok {
		// Another attempt took this turn a moment ago.
		return Decision{RetryAfter: wait}, nil
	}
	if err := c.store.Block(ctx, key, now.Add(wait), expires); err != nil {
		return Decision{}, fmt.Errorf("ratelimit: cooldown: %w", err)
	}
	return Decision{Allowed: true}, nil
}
