// Package mail delivers Sésame's mails so that a request never waits for
// SMTP and a mail is never lost.
//
// A flow calls Outbox.Enqueue, which seals the message (AES-256-GCM, keyed
// from SESAME_SECRET) and writes it to an outbox collection; a Worker claims
// it with a lease, opens it, hands it to a Sender and records the outcome.
// Temporary failures are retried with exponential backoff for a day;
// permanent ones stop at once. Codes and links therefore never rest in the
// database in clear, and several Sésame instances can share one database:
// each attempt is claimed by exactly one worker.
//
// The package imports neither the web framework, the database driver nor
// templ; it declares the Store it needs and server/store implements it.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
)

// Message is one mail as a flow writes it. Only Kind and AccountID are
// stored in clear; everything else is sealed.
type Message struct {
	// To is a single address, with or without a display name.
	To      string
	Subject string
	// Text and HTML are the two parts of a multipart/alternative body; both
	// are required, for mail clients that show only one of them.
	Text string
	HTML string
	// Lang is the language of the mail (Content-Language), such as "fr".
	Lang string
	// Kind names the flow that sent it, such as "recovery_code", for logs.
	Kind string
	// AccountID is the account the mail is about, for logs; it may be empty.
	AccountID string
}

// ErrDuplicate is what Store.InsertOutbox returns when a message with the
// same id is already queued.
var ErrDuplicate = errors.New("mail: message already queued")

// Statuses of an outbox message. A message is pending until a worker claims
// it, sending while the worker's lease runs, then pending again (a
// temporary failure), sent, or failed (a permanent failure, or a day of
// temporary ones).
const (
	StatusPending = "pending"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Envelope is an outbox message as stored: the sealed message and what
// delivery needs in clear.
type Envelope struct {
	// ID is 16 random bytes in hex. It is the additional data of the seal,
	// so that a sealed message cannot be moved to another document.
	ID        string
	Kind      string
	AccountID string
	// Sealed is the nonce followed by the AES-256-GCM ciphertext. It is
	// removed once the message is sent or has failed.
	Sealed        []byte
	Status        string
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// LeasedBy and LeaseUntil name the worker delivering the message and
	// when another may take it over.
	LeasedBy   string
	LeaseUntil time.Time
	// LastError is the last failure, without the recipient or the body.
	LastError string
	// DoneAt is when the message was sent or failed.
	DoneAt time.Time
	// PurgeAt is when the message is deleted, whatever its status.
	PurgeAt time.Time
}

// Store keeps the outbox. *store.Store implements it.
//
// The Mark methods change a message only while it is sending under worker's
// lease, and return ErrLeaseLost otherwise, so that a worker whose lease
// ran out never overwrites the outcome of the worker that took over.
type Store interface {
	InsertOutbox(ctx context.Context, e Envelope) error
	// ClaimOutbox leases the message due first, pending and due at now or
	// sending under an expired lease, to worker until now+lease, counts the
	// attempt, and returns it; false when none is due.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, worker string) (Envelope, bool, error)
	// ClaimOutboxByID does the same for message id only: false when it is
	// not due (or no longer there).
	ClaimOutboxByID(ctx context.Context, id string, now time.Time, lease time.Duration, worker string) (Envelope, bool, error)
	MarkOutboxSent(ctx context.Context, id, worker string, now, purgeAt time.Time) error
	MarkOutboxRetry(ctx context.Context, id, worker string, next time.Time, lastErr string) error
	MarkOutboxFailed(ctx context.Context, id, worker string, now, purgeAt time.Time, lastErr string) error
	// OutboxStats counts the messages waiting (pending or sending) and
	// returns the creation time of the oldest.
	OutboxStats(ctx context.Context) (waiting int, oldest time.Time, err error)
	// PurgeOutbox deletes the messages whose PurgeAt has passed, for servers
	// without TTL indexes.
	PurgeOutbox(ctx context.Context, now time.Time) (int, error)
}

// Sender delivers one message. messageID is the Message-ID without its
// angle brackets; date is the Date header.
//
// A Sender's errors are stored and logged in clear: they must carry neither
// the recipient nor the body. An error wrapping ErrPermanent stops retries.
type Sender interface {
	Send(ctx context.Context, from *mail.Address, m Message, messageID string, date time.Time) error
}

var (
	// ErrPermanent marks a failure that retrying cannot cure, such as an
	// SMTP 5xx reply to the message's transaction.
	ErrPermanent = errors.New("mail: permanent failure")
	// ErrInvalidMessage is returned by Enqueue for a message that cannot be
	// sent as it is.
	ErrInvalidMessage = errors.New("mail: invalid message")
	// ErrLeaseLost is returned by a Store's Mark methods when the message is
	// no longer sending under this worker's lease.
	ErrLeaseLost = errors.New("mail: lease lost")
)

// maxBody bounds the text and HTML of one message together: Sésame's mails
// are a few kilobytes, and a document must stay far below MongoDB's 16 MiB.
const maxBody = 512 << 10

// parseRecipient returns the single address to. Header injection is refused
// here, at Enqueue, so that a flow learns of it at once: a line break could
// add headers such as Bcc, and a list would send one code to several people.
func parseRecipient(to string) (*mail.Address, error) {
	if hasControl(to) {
		return nil, fmt.Errorf("%w: the recipient contains a line break or control character", ErrInvalidMessage)
	}
	a, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("%w: the recipient is not a single address", ErrInvalidMessage)
	}
	// A display name may smuggle a line break in an encoded word
	// (=?utf-8?q?=0D=0A?=), which ParseAddress decodes.
	if hasControl(a.Name) || hasControl(a.Address) {
		return nil, fmt.Errorf("%w: the recipient contains a line break or control character", ErrInvalidMessage)
	}
	return a, nil
}

// validate checks everything Enqueue needs before sealing m.
func validate(m Message) error {
	if _, err := parseRecipient(m.To); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		return fmt.Errorf("%w: the subject is empty", ErrInvalidMessage)
	case hasControl(m.Subject):
		return fmt.Errorf("%w: the subject contains a line break or control character", ErrInvalidMessage)
	case strings.TrimSpace(m.Text) == "" || strings.TrimSpace(m.HTML) == "":
		return fmt.Errorf("%w: both the text and the HTML part are required", ErrInvalidMessage)
	case len(m.Text)+len(m.HTML) > maxBody:
		return fmt.Errorf("%w: the body is larger than %d bytes", ErrInvalidMessage, maxBody)
	case !validKind(m.Kind):
		return fmt.Errorf("%w: the kind %q is not 1 to 64 of a-z, 0-9, _ . -", ErrInvalidMessage, m.Kind)
	case m.Lang != "" && !validLang(m.Lang):
		return fmt.Errorf("%w: the language %q is not a language tag", ErrInvalidMessage, m.Lang)
	case len(m.AccountID) > 256 || hasControl(m.AccountID):
		return fmt.Errorf("%w: the account id is too long or contains a control character", ErrInvalidMessage)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

func validKind(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// validLang accepts the shape of a BCP 47 tag, such as "fr" or "en-GB".
func validLang(s string) bool {
	for i, sub := range strings.Split(s, "-") {
		if sub == "" || len(sub) > 8 || i == 0 && len(sub) < 2 {
			return false
		}
		for _, r := range sub {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
				return false
			}
		}
	}
	return true
}
