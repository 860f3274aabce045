package mail

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// maxKeep bounds how long any message stays in the outbox, whatever
// becomes of workers: it is the PurgeAt of a message until a worker sets
// the retention of its outcome. It is well beyond the day of retries.
const maxKeep = 30 * 24 * time.Hour

// Outbox accepts messages from flows. It never talks to SMTP, so Enqueue
// costs one database insert.
type Outbox struct {
	store Store
	aead  cipher.AEAD
	now   func() time.Time
	local *Worker
}

// NewOutbox returns an outbox writing to store. secret is SESAME_SECRET;
// local, which may be nil, is this process's Worker: while it runs, each
// message is written already leased to it and handed to its senders, so
// that a mail leaves at once without a sender claiming it from the store.
func NewOutbox(store Store, secret []byte, now func() time.Time, local *Worker) *Outbox {
	return &Outbox{store: store, aead: newAEAD(secret), now: now, local: local}
}

// Enqueue seals m and stores it for delivery, and returns its id. An error
// wrapping ErrInvalidMessage means m can never be sent (a recipient with a
// line break or several addresses, a missing part…); any other error means
// the database did not take it.
func (o *Outbox) Enqueue(ctx context.Context, m Message) (string, error) {
	return o.enqueue(ctx, newID(), m)
}

// EnqueueOnce queues m under an id the caller derives from its own state
// (a flow and the version that issued the code), so that a step run again
// after a crash queues nothing twice: a message already queued under id is
// not an error.
func (o *Outbox) EnqueueOnce(ctx context.Context, key string, m Message) error {
	h := sha256.Sum256([]byte("outbox-key\x00" + key))
	_, err := o.enqueue(ctx, hex.EncodeToString(h[:16]), m)
	if errors.Is(err, ErrDuplicate) {
		return nil
	}
	return err
}

func (o *Outbox) enqueue(ctx context.Context, id string, m Message) (string, error) {
	if err := validate(m); err != nil {
		return "", err
	}
	s, err := seal(o.aead, id, m)
	if err != nil {
		return "", err
	}
	now := o.now().UTC()
	e := Envelope{
		ID: id, Kind: m.Kind, AccountID: m.AccountID, Sealed: s,
		Status: StatusPending, CreatedAt: now, NextAttemptAt: now, PurgeAt: now.Add(maxKeep),
	}
	if o.local != nil {
		e = o.local.hold(e)
	}
	if err := o.store.InsertOutbox(ctx, e); err != nil {
		return id, fmt.Errorf("mail: enqueue: %w", err)
	}
	if o.local != nil {
		o.local.hand(e)
	}
	return id, nil
}

// newID returns 16 random bytes in hex.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails; it crashes the program instead
	return hex.EncodeToString(b)
}
