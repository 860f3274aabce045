package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/activation"
)

const (
	colActivation = "activation_flows"
	// colMailboxes reserves institutional addresses: the unique _id makes
	// two people never get the same one, on every server.
	colMailboxes = "mailboxes"
)

func activationIndexes() []index {
	return []index{
		{colActivation, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
	}
}

type activationDoc struct {
	ID              string    `bson:"_id"`
	AccountID       string    `bson:"accountId"`
	BrowserHash     string    `bson:"browserHash"`
	State           string    `bson:"state"`
	Version         int       `bson:"version"`
	Lang            string    `bson:"lang"`
	IP              string    `bson:"ip,omitempty"`
	CreatedAt       time.Time `bson:"createdAt"`
	ExpiresAt       time.Time `bson:"expiresAt"`
	RescueEmail     string    `bson:"rescueEmail,omitempty"`
	RescueToken     string    `bson:"rescueToken,omitempty"`
	RescueConfirmed bool      `bson:"rescueConfirmed"`
	CharterVersion  string    `bson:"charterVersion,omitempty"`
	CharterAt       time.Time `bson:"charterAt,omitempty"`
	Directory       bool      `bson:"directory"`
	DirectoryAt     time.Time `bson:"directoryAt,omitempty"`
	RedirectTo      string    `bson:"redirectTo,omitempty"`
	RedirectCopy    bool      `bson:"redirectCopy"`
	RedirectToken   string    `bson:"redirectToken,omitempty"`
	LinkDeadline    time.Time `bson:"linkDeadline,omitempty"`
}

func toActivationDoc(f activation.Flow) activationDoc {
	return activationDoc{ID: f.ID, AccountID: f.AccountID, BrowserHash: f.BrowserHash, State: string(f.State), Version: f.Version,
		Lang: f.Lang, IP: f.IP, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, RescueEmail: f.RescueEmail, RescueToken: f.RescueToken,
		RescueConfirmed: f.RescueConfirmed, CharterVersion: f.CharterVersion, CharterAt: f.CharterAt, Directory: f.Directory,
		DirectoryAt: f.DirectoryAt, RedirectTo: f.RedirectTo, RedirectCopy: f.RedirectCopy, RedirectToken: f.RedirectToken,
		LinkDeadline: f.LinkDeadline}
}

func (d activationDoc) flow() activation.Flow {
	return activation.Flow{ID: d.ID, AccountID: d.AccountID, BrowserHash: d.BrowserHash, State: activation.State(d.State),
		Version: d.Version, Lang: d.Lang, IP: d.IP, CreatedAt: utc(d.CreatedAt), ExpiresAt: utc(d.ExpiresAt),
		RescueEmail: d.RescueEmail, RescueToken: d.RescueToken, RescueConfirmed: d.RescueConfirmed,
		CharterVersion: d.CharterVersion, CharterAt: utc(d.CharterAt), Directory: d.Directory, DirectoryAt: utc(d.DirectoryAt),
		RedirectTo: d.RedirectTo, RedirectCopy: d.RedirectCopy, RedirectToken: d.RedirectToken, LinkDeadline: utc(d.LinkDeadline)}
}

// GetActivation reads a live activation flow.
func (s Activations) GetActivation(ctx context.Context, id string) (activation.Flow, error) {
	var d activationDoc
	err := s.db.Collection(colActivation).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !d.ExpiresAt.After(s.now())) {
		return activation.Flow{}, activation.ErrNotFound
	}
	if err != nil {
		return activation.Flow{}, fmt.Errorf("store: get activation: %w", err)
	}
	return d.flow(), nil
}

// CreateActivation starts a flow, replacing an expired one of the same
// account that the sweeper has not deleted yet.
func (s Activations) CreateActivation(ctx context.Context, f activation.Flow) error {
	_, err := s.wdb.Collection(colActivation).DeleteOne(ctx, bson.D{{Key: "_id", Value: f.ID}, {Key: "expiresAt", Value: bson.D{{Key: "$lte", Value: s.now()}}}})
	if err != nil {
		return fmt.Errorf("store: create activation: %w", err)
	}
	if err := s.insertOne(ctx, colActivation, toActivationDoc(f)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return activation.ErrConflict
		}
		return fmt.Errorf("store: create activation: %w", err)
	}
	return nil
}

// SaveActivation writes a flow over the version it was read at (see
// claims.go: the claim is what makes it exclusive on the embedded server).
// The claim key includes the flow's creation time, so that a new flow of
// the same account never collides with an old one's claims.
func (s Activations) SaveActivation(ctx context.Context, f activation.Flow) error {
	ok, err := s.claim(ctx, fmt.Sprintf("act|%s|%d#%d", f.ID, f.CreatedAt.UnixNano(), f.Version), f.ExpiresAt)
	if err != nil {
		return err
	}
	if !ok {
		return activation.ErrConflict
	}
	// Filtered by _id alone: the claim above already makes this writer
	// the only one for this version, and the embedded server only uses its
	// fast path for an exact _id filter.
	res, err := s.wdb.Collection(colActivation).ReplaceOne(ctx,
		bson.D{{Key: "_id", Value: f.ID}}, toActivationDoc(f))
	if err != nil {
		return fmt.Errorf("store: save activation: %w", err)
	}
	if res.MatchedCount == 0 {
		return activation.ErrConflict
	}
	return nil
}

// DeleteActivation removes a flow.
func (s Activations) DeleteActivation(ctx context.Context, id string) error {
	if _, err := s.wdb.Collection(colActivation).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("store: delete activation: %w", err)
	}
	return nil
}

// ClaimMailbox reserves an institutional address for an account. Asking
// again for the same account's own address succeeds.
func (s Activations) ClaimMailbox(ctx context.Context, address, accountID string) (bool, error) {
	err := s.insertOne(ctx, colMailboxes, bson.D{{Key: "_id", Value: address}, {Key: "accountId", Value: accountID}})
	if mongo.IsDuplicateKeyError(err) {
		var d struct {
			AccountID string `bson:"accountId"`
		}
		if err := s.db.Collection(colMailboxes).FindOne(ctx, bson.D{{Key: "_id", Value: address}}).Decode(&d); err != nil {
			return false, fmt.Errorf("store: mailbox: %w", err)
		}
		return d.AccountID == accountID, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: mailbox: %w", err)
	}
	return true, nil
}

// SweepActivations deletes expired activation flows.
func (s *Store) SweepActivations(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colActivation, "expiresAt", now)
}
