package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/cas"
)

// The CAS server's collections: service tickets waiting for their
// validation, the validated tickets of services that asked for single
// logout, and the LogoutRequests waiting for their services.
const (
	colCASTickets = "cas_tickets"
	colCASLogins  = "cas_logins"
	colCASLogouts = "cas_logouts"
)

func casIndexes() []index {
	ttl := func(col string) index {
		return index{col, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}}
	}
	return []index{
		ttl(colCASTickets), ttl(colCASLogins),
		{colCASLogouts, mongo.IndexModel{Keys: bson.D{{Key: "nextAttemptAt", Value: 1}}}},
	}
}

type casTicketDoc struct {
	ID        string    `bson:"_id"`
	Service   string    `bson:"service"`
	ClientID  string    `bson:"clientId"`
	AccountID string    `bson:"accountId"`
	AuthTime  time.Time `bson:"authTime"`
	IssuedAt  time.Time `bson:"issuedAt"`
	ExpiresAt time.Time `bson:"expiresAt"`
	Renewed   bool      `bson:"renewed"`
}

// SaveTicket stores a new service ticket (its hash, never the ticket).
func (s Tickets) SaveTicket(ctx context.Context, t cas.Ticket) error {
	err := s.insertOne(ctx, colCASTickets, casTicketDoc{ID: t.ID, Service: t.Service, ClientID: t.ClientID,
		AccountID: t.AccountID, AuthTime: t.AuthTime, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, Renewed: t.Renewed})
	if err != nil {
		return fmt.Errorf("store: save ticket: %w", err)
	}
	return nil
}

// TakeTicket uses a ticket up. Reading then deleting is not atomic on
// FerretDB (its findAndModify is a read and a blind write), so the one
// caller that may have the ticket is the one whose claim insert succeeds;
// the claim outlives the ticket, so no later caller can win it either.
func (s Tickets) TakeTicket(ctx context.Context, id string) (cas.Ticket, error) {
	var d casTicketDoc
	err := s.db.Collection(colCASTickets).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return cas.Ticket{}, cas.ErrNotFound
	}
	if err != nil {
		return cas.Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	won, err := s.claim(ctx, "cas|"+id, d.ExpiresAt.Add(time.Minute))
	if err != nil {
		return cas.Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	if !won {
		return cas.Ticket{}, cas.ErrNotFound
	}
	if _, err := s.wdb.Collection(colCASTickets).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return cas.Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	return cas.Ticket{ID: d.ID, Service: d.Service, ClientID: d.ClientID, AccountID: d.AccountID, AuthTime: utc(d.AuthTime),
		IssuedAt: utc(d.IssuedAt), ExpiresAt: utc(d.ExpiresAt), Renewed: d.Renewed}, nil
}

type casLoginDoc struct {
	ID        string    `bson:"id"`
	ClientID  string    `bson:"clientId"`
	Service   string    `bson:"service"`
	Ticket    string    `bson:"ticket"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

// casLoginsDoc holds an account's validated tickets (_id is the account),
// so that a sign-out reads them by _id: on the embedded store a filter on
// accountId reads every login of the school. On MongoDB the $push is
// atomic; on FerretDB one process's writes take turns on one connection.
type casLoginsDoc struct {
	ID        string        `bson:"_id"`
	Logins    []casLoginDoc `bson:"logins"`
	ExpiresAt time.Time     `bson:"expiresAt"`
}

// SaveLogin remembers a validated ticket for single logout.
func (s Tickets) SaveLogin(ctx context.Context, l cas.Login) error {
	_, err := s.wdb.Collection(colCASLogins).UpdateOne(ctx, bson.D{{Key: "_id", Value: l.AccountID}}, bson.D{
		{Key: "$push", Value: bson.D{{Key: "logins", Value: casLoginDoc{ID: l.ID, ClientID: l.ClientID,
			Service: l.Service, Ticket: l.Ticket, ExpiresAt: l.ExpiresAt}}}},
		{Key: "$max", Value: bson.D{{Key: "expiresAt", Value: l.ExpiresAt}}},
	}, options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("store: save login: %w", err)
	}
	return nil
}

// TakeLogins returns and deletes an account's logins still in force. Two
// sign-outs at once may both read them; the queue keeps a single request
// per login id, so that costs nothing.
func (s Tickets) TakeLogins(ctx context.Context, accountID string) ([]cas.Login, error) {
	var d casLoginsDoc
	err := s.db.Collection(colCASLogins).FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: take logins: %w", err)
	}
	if _, err := s.wdb.Collection(colCASLogins).DeleteOne(ctx, bson.D{{Key: "_id", Value: accountID}}); err != nil {
		return nil, fmt.Errorf("store: take logins: %w", err)
	}
	now := s.now()
	out := make([]cas.Login, 0, len(d.Logins))
	seen := map[string]bool{}
	for _, l := range d.Logins {
		if seen[l.ID] || !l.ExpiresAt.After(now) {
			continue
		}
		seen[l.ID] = true
		out = append(out, cas.Login{ID: l.ID, AccountID: accountID, ClientID: l.ClientID, Service: l.Service,
			Ticket: l.Ticket, ExpiresAt: utc(l.ExpiresAt)})
	}
	return out, nil
}

// SweepCAS deletes expired tickets and logins.
func (s *Store) SweepCAS(ctx context.Context, now time.Time) (int, error) {
	n, err := s.sweep(ctx, colCASTickets, "expiresAt", now)
	if err != nil {
		return n, err
	}
	m, err := s.sweep(ctx, colCASLogins, "expiresAt", now)
	return n + m, err
}

type casLogoutDoc struct {
	ID            string    `bson:"_id"`
	Service       string    `bson:"service"`
	Ticket        string    `bson:"ticket"`
	Attempts      int       `bson:"attempts"`
	CreatedAt     time.Time `bson:"createdAt"`
	NextAttemptAt time.Time `bson:"nextAttemptAt"`
	LastError     string    `bson:"lastError,omitempty"`
}

// QueueLogout adds a LogoutRequest; a second one for the same login is
// the same request.
func (s Logouts) QueueLogout(ctx context.Context, l cas.Logout) error {
	err := s.insertOne(ctx, colCASLogouts, casLogoutDoc{ID: l.ID, Service: l.Service, Ticket: l.Ticket,
		Attempts: l.Attempts, CreatedAt: l.CreatedAt, NextAttemptAt: l.NextAttemptAt, LastError: l.LastError})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("store: queue logout: %w", err)
	}
	return nil
}

// DueLogouts returns the requests due at now, the oldest due first.
func (s Logouts) DueLogouts(ctx context.Context, now time.Time, limit int) ([]cas.Logout, error) {
	cur, err := s.db.Collection(colCASLogouts).Find(ctx, bson.D{{Key: "nextAttemptAt", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "nextAttemptAt", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: due logouts: %w", err)
	}
	var docs []casLogoutDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: due logouts: %w", err)
	}
	out := make([]cas.Logout, len(docs))
	for i, d := range docs {
		out[i] = cas.Logout{ID: d.ID, Service: d.Service, Ticket: d.Ticket, Attempts: d.Attempts,
			CreatedAt: utc(d.CreatedAt), NextAttemptAt: utc(d.NextAttemptAt), LastError: d.LastError}
	}
	return out, nil
}

// ClaimLogout claims one attempt at one request (see claims.go).
func (s Logouts) ClaimLogout(ctx context.Context, id string, attempt int, expires time.Time) (bool, error) {
	return s.claim(ctx, fmt.Sprintf("caslo|%s#%d", id, attempt), expires)
}

// RetryLogout records a failed attempt and when to try again.
func (s Logouts) RetryLogout(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	_, err := s.wdb.Collection(colCASLogouts).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "attempts", Value: attempts}, {Key: "nextAttemptAt", Value: next}, {Key: "lastError", Value: lastErr}}}})
	if err != nil {
		return fmt.Errorf("store: retry logout: %w", err)
	}
	return nil
}

// DeleteLogout forgets a request delivered or given up.
func (s Logouts) DeleteLogout(ctx context.Context, id string) error {
	if _, err := s.wdb.Collection(colCASLogouts).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("store: delete logout: %w", err)
	}
	return nil
}
