// Package audit records who did what, for the school's security reviews:
// every recovery request, code failure, lockout and reset, every sign-in
// failure. It never records a code or a password.
package audit

import (
	"context"
	"time"
)

// Event is one audited action.
type Event struct {
	At        time.Time
	Action    string // e.g. "recovery.request", "recovery.code_failed", "recovery.reset"
	AccountID string // empty when no account is known (never the typed identifier)
	IP        string
	Outcome   string // "ok", "refused", "rate_limited", …
	Flow      string // the flow's id, to follow one person's path
	// Actor is the account that acted on AccountID when it is another
	// one: a guardian who set a child's password.
	Actor string
	// Client is the application a code, ticket or token was issued to or
	// presented by (its id in the school's file).
	Client string
}

// Recorder keeps events.
type Recorder interface {
	Record(ctx context.Context, e Event) error
}
