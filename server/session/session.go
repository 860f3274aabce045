// Package session keeps signed-in sessions: a random token in the browser's
// cookie, only its SHA-256 in the database, an idle and an absolute
// timeout, and revocation of every session of an account.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-edu/sesame/server/keys"
)

// ErrNotFound means no live session for this token.
var ErrNotFound = errors.New("session: not found")

// Session is one signed-in browser.
type Session struct {
	// ID is the SHA-256 of the cookie's token: a database dump gives no
	// usable session.
	ID        string
	AccountID string
	CreatedAt time.Time
	SeenAt    time.Time
	// ExpiresAt is the earlier of the idle deadline and the absolute one.
	ExpiresAt   time.Time
	AbsoluteEnd time.Time
}

// Store keeps sessions.
type Store interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	TouchSession(ctx context.Context, id string, seen, expires time.Time) error
	// DeleteSession ends one session and returns its account ("" when
	// there was none), so that sign-out listeners are told whose it was.
	DeleteSession(ctx context.Context, id string) (accountID string, err error)
	RevokeAll(ctx context.Context, accountID string) error
	RevokeOthers(ctx context.Context, accountID, keepID string) error
}

// Manager creates and checks sessions.
type Manager struct {
	store    Store
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
}

// New returns a Manager with the idle and absolute timeouts.
func New(store Store, idle, absolute time.Duration, now func() time.Time) *Manager {
	return &Manager{store: store, idle: idle, absolute: absolute, now: now}
}

// Create starts a session for an account and returns the cookie's token.
// Each sign-in gets a new token, so a token planted before sign-in
// (session fixation) is worthless after.
func (m *Manager) Create(ctx context.Context, accountID string) (string, Session, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Session{}, fmt.Errorf("session: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	now := m.now()
	s := Session{ID: keys.HashToken(token), AccountID: accountID, CreatedAt: now, SeenAt: now,
		AbsoluteEnd: now.Add(m.absolute)}
	s.ExpiresAt = earliest(now.Add(m.idle), s.AbsoluteEnd)
	if err := m.store.CreateSession(ctx, s); err != nil {
		return "", Session{}, fmt.Errorf("session: create: %w", err)
	}
	return token, s, nil
}

// Resolve returns the live session of a token and extends its idle
// deadline. The extension is written at most once a minute, so that
// browsing does not turn every page view into a database write.
func (m *Manager) Resolve(ctx context.Context, token string) (Session, error) {
	return m.ResolveIdle(ctx, token, 0)
}

// ErrIdle means the session has been idle longer than a stricter limit
// than its own (the office console's); it is still live elsewhere.
var ErrIdle = errors.New("session: idle too long for this use")

// ResolveIdle is Resolve for a use with a shorter idle limit (0: the
// session's own): a session whose last request is older than idle is
// refused with ErrIdle, and not extended. Requests are recorded at most
// once a minute, so the limit holds to within a minute.
func (m *Manager) ResolveIdle(ctx context.Context, token string, idle time.Duration) (Session, error) {
	if token == "" || len(token) > 128 {
		return Session{}, ErrNotFound
	}
	s, err := m.store.GetSession(ctx, keys.HashToken(token))
	if err != nil {
		return Session{}, err
	}
	now := m.now()
	if !now.Before(s.ExpiresAt) {
		return Session{}, ErrNotFound
	}
	if idle > 0 && now.Sub(s.SeenAt) >= idle {
		return s, ErrIdle
	}
	if now.Sub(s.SeenAt) >= time.Minute {
		s.SeenAt = now
		s.ExpiresAt = earliest(now.Add(m.idle), s.AbsoluteEnd)
		if err := m.store.TouchSession(ctx, s.ID, s.SeenAt, s.ExpiresAt); err != nil {
			return Session{}, fmt.Errorf("session: touch: %w", err)
		}
	}
	return s, nil
}

// End deletes the session of a token (sign-out).
func (m *Manager) End(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	_, err := m.store.DeleteSession(ctx, keys.HashToken(token))
	return err
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// SignOut is told that every session of an account ended — a sign-out, a
// password reset or change, an office agent's action — so that the
// applications the person signed in to through Sésame end theirs too
// (OpenID Connect back-channel logout, CAS single logout). It queues its
// work and logs its own failures: a sign-out never fails because an
// application is down.
type SignOut func(ctx context.Context, accountID string)

// Notifying wraps a Store so that every deletion and revocation of
// sessions tells the SignOut listeners, whichever package asked for it.
func Notifying(s Store, listeners ...SignOut) Store {
	if len(listeners) == 0 {
		return s
	}
	return notifying{Store: s, listeners: listeners}
}

type notifying struct {
	Store
	listeners []SignOut
}

func (n notifying) tell(ctx context.Context, accountID string) {
	for _, l := range n.listeners {
		l(ctx, accountID)
	}
}

func (n notifying) DeleteSession(ctx context.Context, id string) (string, error) {
	accountID, err := n.Store.DeleteSession(ctx, id)
	if err != nil || accountID == "" {
		return accountID, err
	}
	n.tell(ctx, accountID)
	return accountID, nil
}

func (n notifying) RevokeAll(ctx context.Context, accountID string) error {
	if err := n.Store.RevokeAll(ctx, accountID); err != nil {
		return err
	}
	n.tell(ctx, accountID)
	return nil
}

func (n notifying) RevokeOthers(ctx context.Context, accountID, keepID string) error {
	if err := n.Store.RevokeOthers(ctx, accountID, keepID); err != nil {
		return err
	}
	n.tell(ctx, accountID)
	return nil
}
