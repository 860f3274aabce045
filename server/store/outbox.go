package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/mail"
)

// The mail package's workers use the store through this interface.
var _ mail.Store = Outbox{}

// outboxDoc is a mail waiting for delivery, or the trace of one delivered
// or failed. The message itself is only in Sealed, encrypted by the mail
// package, and is removed once the outcome is known.
type outboxDoc struct {
	ID            string    `bson:"_id"`
	Kind          string    `bson:"kind"`
	AccountID     string    `bson:"accountId,omitempty"`
	Sealed        []byte    `bson:"sealed,omitempty"`
	Status        string    `bson:"status"`
	Attempts      int       `bson:"attempts"`
	CreatedAt     time.Time `bson:"createdAt"`
	NextAttemptAt time.Time `bson:"nextAttemptAt"`
	LeasedBy      string    `bson:"leasedBy,omitempty"`
	LeaseUntil    time.Time `bson:"leaseUntil,omitempty"`
	LastError     string    `bson:"lastError,omitempty"`
	DoneAt        time.Time `bson:"doneAt,omitempty"`
	PurgeAt       time.Time `bson:"purgeAt"`
}

// claimDoc records that one attempt at one message was claimed; see
// ClaimOutbox.
type claimDoc struct {
	ID      string    `bson:"_id"`
	Worker  string    `bson:"worker"`
	PurgeAt time.Time `bson:"purgeAt"`
}

// claimKeep is how long a claim record outlives its lease. It must exceed
// the moment between a claim's insert and its update (milliseconds); a
// claimant that crashes in that moment delays its message by this much.
const claimKeep = 10 * time.Minute

// claimCandidates is how many due messages one ClaimOutbox call tries when
// other workers win the first ones.
const claimCandidates = 8

func (d outboxDoc) envelope() mail.Envelope {
	return mail.Envelope{
		ID: d.ID, Kind: d.Kind, AccountID: d.AccountID, Sealed: d.Sealed,
		Status: d.Status, Attempts: d.Attempts,
		CreatedAt: d.CreatedAt.UTC(), NextAttemptAt: d.NextAttemptAt.UTC(),
		LeasedBy: d.LeasedBy, LeaseUntil: utcOrZero(d.LeaseUntil),
		LastError: d.LastError, DoneAt: utcOrZero(d.DoneAt), PurgeAt: d.PurgeAt.UTC(),
	}
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// InsertOutbox stores a new message.
func (s Outbox) InsertOutbox(ctx context.Context, e mail.Envelope) error {
	d := outboxDoc{
		ID: e.ID, Kind: e.Kind, AccountID: e.AccountID, Sealed: e.Sealed,
		Status: e.Status, Attempts: e.Attempts, CreatedAt: e.CreatedAt, NextAttemptAt: e.NextAttemptAt,
		LeasedBy: e.LeasedBy, LeaseUntil: e.LeaseUntil, LastError: e.LastError, DoneAt: e.DoneAt, PurgeAt: e.PurgeAt,
	}
	// A message already delivered (or given up) under this key has left
	// the outbox for the log: it is a duplicate too.
	if _, found, err := s.logged(ctx, e.ID); err != nil {
		return err
	} else if found {
		return mail.ErrDuplicate
	}
	if err := s.insertOne(ctx, colOutbox, d); err != nil {
		// Only a message already queued under this _id is a duplicate;
		// another unique index refusing the insert is a failure.
		if mongo.IsDuplicateKeyError(err) {
			if n, cerr := s.db.Collection(colOutbox).CountDocuments(ctx, bson.D{{Key: "_id", Value: e.ID}}); cerr == nil && n > 0 {
				return mail.ErrDuplicate
			}
		}
		return fmt.Errorf("store: insert outbox: %w", err)
	}
	return nil
}

// GetOutbox returns one message by id, for tests and for the help desk's
// "did the mail go out?", from the outbox or, once it is done, from the
// log; false when there is none (never, or purged).
func (s Outbox) GetOutbox(ctx context.Context, id string) (mail.Envelope, bool, error) {
	d, found, err := s.queued(ctx, id)
	if err != nil || found {
		return d.envelope(), found, err
	}
	d, found, err = s.logged(ctx, id)
	return d.envelope(), found, err
}

// queued reads a message of the outbox by _id.
func (s *Store) queued(ctx context.Context, id string) (outboxDoc, bool, error) {
	return s.outboxDoc(ctx, colOutbox, id)
}

// logged reads a done message's trace by _id.
func (s *Store) logged(ctx context.Context, id string) (outboxDoc, bool, error) {
	return s.outboxDoc(ctx, colOutboxLog, id)
}

func (s *Store) outboxDoc(ctx context.Context, col, id string) (outboxDoc, bool, error) {
	var d outboxDoc
	err := s.db.Collection(col).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return outboxDoc{}, false, nil
	}
	if err != nil {
		return outboxDoc{}, false, fmt.Errorf("store: read %s: %w", col, err)
	}
	return d, true, nil
}

// claimableAt is claimable, checked on a document already read.
func (d outboxDoc) claimableAt(now time.Time) bool {
	return d.Status == mail.StatusPending && !d.NextAttemptAt.After(now) ||
		d.Status == mail.StatusSending && d.LeaseUntil.Before(now)
}

// claimable matches the messages a worker may take at now: pending and
// due, or sending under a lease that has run out (its worker died).
func claimable(now time.Time) bson.D {
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: mail.StatusPending}, {Key: "nextAttemptAt", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "status", Value: mail.StatusSending}, {Key: "leaseUntil", Value: bson.D{{Key: "$lt", Value: now}}}},
	}}}
}

// ClaimOutbox leases the message due first to worker.
//
// A single findOneAndUpdate would be atomic on MongoDB, but FerretDB v1
// runs findAndModify and update as a read followed by a blind replace of
// the document, so concurrent workers all "win" the same message (measured:
// 98 of 100 messages claimed twice or more by 4 workers). What both servers
// do atomically is refuse a second document with the same _id. So each
// attempt is first claimed by inserting "<message id>/<attempt number>"
// into the claims collection: exactly one worker's insert succeeds, and only
// that worker then updates the message, with a filter that also requires the
// attempt count it read (a compare-and-set on MongoDB). A worker that loses
// tries the next candidate.
func (s Outbox) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, worker string) (mail.Envelope, bool, error) {
	col := s.db.Collection(colOutbox)
	cur, err := col.Find(ctx, claimable(now), options.Find().
		SetSort(bson.D{{Key: "nextAttemptAt", Value: 1}}).
		SetLimit(claimCandidates).
		SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "attempts", Value: 1}}))
	if err != nil {
		return mail.Envelope{}, false, fmt.Errorf("store: claim outbox: %w", err)
	}
	var cands []struct {
		ID       string `bson:"_id"`
		Attempts int    `bson:"attempts"`
	}
	if err := cur.All(ctx, &cands); err != nil {
		return mail.Envelope{}, false, fmt.Errorf("store: claim outbox: %w", err)
	}
	for _, c := range cands {
		e, ok, err := s.claimAttempt(ctx, c.ID, c.Attempts, nil, now, lease, worker)
		if err != nil || ok {
			return e, ok, err
		}
	}
	return mail.Envelope{}, false, nil
}

// ClaimOutboxByID leases message id to worker if it is due: the worker
// takes the messages this process queued by their _id, which the embedded
// store answers through its index, and leaves the poll (a read of every
// waiting message) to retries and to other instances' messages. It is
// exclusive in the same way as ClaimOutbox.
func (s Outbox) ClaimOutboxByID(ctx context.Context, id string, now time.Time, lease time.Duration, worker string) (mail.Envelope, bool, error) {
	d, found, err := s.queued(ctx, id)
	if err != nil || !found || !d.claimableAt(now) {
		return mail.Envelope{}, false, err
	}
	return s.claimAttempt(ctx, id, d.Attempts, &d, now, lease, worker)
}

// claimAttempt makes worker the only claimant of attempt attempts+1 of
// message id, then leases the message to it. read is the message as read
// before the claim, or nil to read it after. Nothing but a claim changes
// the attempt count, so the message read before is the one claimed; only
// its status may have moved on, to done (then it has left the outbox and
// the lease matches nothing) or back to pending for a retry (then this
// attempt merely comes early).
func (s *Store) claimAttempt(ctx context.Context, id string, attempts int, read *outboxDoc, now time.Time, lease time.Duration, worker string) (mail.Envelope, bool, error) {
	claim := claimDoc{ID: id + "/" + strconv.Itoa(attempts+1), Worker: worker, PurgeAt: now.Add(lease + claimKeep)}
	err := s.insertOne(ctx, colOutboxClaims, claim)
	if mongo.IsDuplicateKeyError(err) {
		return mail.Envelope{}, false, nil // another worker has this attempt
	}
	if err != nil {
		return mail.Envelope{}, false, fmt.Errorf("store: claim outbox: %w", err)
	}
	// The claim makes this worker the only one for this attempt; the
	// document is read and written by _id alone, which the embedded
	// store answers through its index (a filter on any other field
	// reads the whole collection there).
	var d outboxDoc
	if read != nil {
		d = *read
	} else {
		var found bool
		if d, found, err = s.queued(ctx, id); err != nil {
			return mail.Envelope{}, false, fmt.Errorf("store: claim outbox: %w", err)
		}
		if !found || d.Attempts != attempts || !d.claimableAt(now) {
			return mail.Envelope{}, false, nil // changed since it was read (sent late by its lease holder)
		}
	}
	d.Status, d.LeasedBy, d.LeaseUntil, d.Attempts = mail.StatusSending, worker, now.Add(lease), d.Attempts+1
	res, err := s.wdb.Collection(colOutbox).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "status", Value: d.Status},
			{Key: "leasedBy", Value: d.LeasedBy},
			{Key: "leaseUntil", Value: d.LeaseUntil},
			{Key: "attempts", Value: d.Attempts},
		}},
	})
	if err != nil {
		return mail.Envelope{}, false, fmt.Errorf("store: claim outbox: %w", err)
	}
	if res.MatchedCount == 0 {
		return mail.Envelope{}, false, nil // delivered and moved to the log meanwhile
	}
	return d.envelope(), true, nil
}

// leased reads message id and checks that worker still holds its lease.
func (s *Store) leased(ctx context.Context, id, worker string) (outboxDoc, error) {
	d, found, err := s.queued(ctx, id)
	if err != nil {
		return outboxDoc{}, fmt.Errorf("store: update outbox: %w", err)
	}
	if !found || d.Status != mail.StatusSending || d.LeasedBy != worker {
		return outboxDoc{}, mail.ErrLeaseLost
	}
	return d, nil
}

// finish moves a message whose outcome is known from the outbox to the
// log, without its sealed content: the outbox keeps only the messages
// still to send, so that the workers' poll reads a handful of documents
// and not a day of traces.
func (s *Store) finish(ctx context.Context, id, worker, status string, now, purgeAt time.Time, lastErr string) error {
	d, err := s.leased(ctx, id, worker)
	if err != nil {
		return err
	}
	d.Status, d.DoneAt, d.PurgeAt, d.Sealed, d.LeaseUntil = status, now, purgeAt, nil, time.Time{}
	if lastErr != "" {
		d.LastError = lastErr
	}
	if err := s.insertOne(ctx, colOutboxLog, d); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("store: log outbox: %w", err)
	}
	if _, err := s.wdb.Collection(colOutbox).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("store: update outbox: %w", err)
	}
	return nil
}

// MarkOutboxSent records a delivery and drops the sealed message, which
// nothing needs any more.
func (s Outbox) MarkOutboxSent(ctx context.Context, id, worker string, now, purgeAt time.Time) error {
	return s.finish(ctx, id, worker, mail.StatusSent, now, purgeAt, "")
}

// MarkOutboxRetry makes the message pending again, due at next.
func (s Outbox) MarkOutboxRetry(ctx context.Context, id, worker string, next time.Time, lastErr string) error {
	if _, err := s.leased(ctx, id, worker); err != nil {
		return err
	}
	res, err := s.wdb.Collection(colOutbox).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "status", Value: mail.StatusPending},
			{Key: "nextAttemptAt", Value: next},
			{Key: "lastError", Value: lastErr},
		}},
		{Key: "$unset", Value: bson.D{{Key: "leasedBy", Value: ""}, {Key: "leaseUntil", Value: ""}}},
	})
	if err != nil {
		return fmt.Errorf("store: update outbox: %w", err)
	}
	if res.MatchedCount == 0 {
		return mail.ErrLeaseLost
	}
	return nil
}

// MarkOutboxFailed records that the message will never be sent and drops
// the sealed message.
func (s Outbox) MarkOutboxFailed(ctx context.Context, id, worker string, now, purgeAt time.Time, lastErr string) error {
	return s.finish(ctx, id, worker, mail.StatusFailed, now, purgeAt, lastErr)
}

// OutboxStats counts the waiting messages and finds the oldest. It reads
// only their creation times: the backlog is small unless the relay is down,
// and one pass works alike on MongoDB and on the embedded server.
func (s Outbox) OutboxStats(ctx context.Context) (int, time.Time, error) {
	cur, err := s.db.Collection(colOutbox).Find(ctx,
		bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{mail.StatusPending, mail.StatusSending}}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "createdAt", Value: 1}}))
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox stats: %w", err)
	}
	defer cur.Close(ctx)
	n, oldest := 0, time.Time{}
	for cur.Next(ctx) {
		var d struct {
			CreatedAt time.Time `bson:"createdAt"`
		}
		if err := cur.Decode(&d); err != nil {
			return 0, time.Time{}, fmt.Errorf("store: outbox stats: %w", err)
		}
		if n == 0 || d.CreatedAt.Before(oldest) {
			oldest = d.CreatedAt
		}
		n++
	}
	if err := cur.Err(); err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox stats: %w", err)
	}
	return n, utcOrZero(oldest), nil
}

// PurgeOutbox deletes the messages and claim records whose purgeAt has
// passed, and returns how many messages went. A real MongoDB's TTL indexes
// do the same; the embedded server has none.
func (s Outbox) PurgeOutbox(ctx context.Context, now time.Time) (int, error) {
	expired := bson.D{{Key: "purgeAt", Value: bson.D{{Key: "$lte", Value: now}}}}
	res, err := s.wdb.Collection(colOutbox).DeleteMany(ctx, expired)
	if err != nil {
		return 0, fmt.Errorf("store: purge outbox: %w", err)
	}
	logged, err := s.wdb.Collection(colOutboxLog).DeleteMany(ctx, expired)
	if err != nil {
		return 0, fmt.Errorf("store: purge outbox log: %w", err)
	}
	res.DeletedCount += logged.DeletedCount
	if _, err := s.wdb.Collection(colOutboxClaims).DeleteMany(ctx, expired); err != nil {
		return 0, fmt.Errorf("store: purge outbox claims: %w", err)
	}
	return int(res.DeletedCount), nil
}
