package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/oidc"
)

// The OpenID Connect provider's collections. Every document is read by its
// _id (the SHA-256 of a request's id, of an access token's id, of a refresh
// token), except a family's deletion, which only a reused refresh token
// causes. colOIDCAccountTokens lists each account's tokens (_id is the
// account), for the deletion every sign-out asks for.
const (
	colOIDCRequests      = "oidc_requests"
	colOIDCTokens        = "oidc_tokens"
	colOIDCAccountTokens = "oidc_account_tokens"
	colOIDCGrants        = "oidc_grants"
	colOIDCKeys          = "oidc_keys"
	colOIDCLogouts       = "oidc_logouts"
)

// Prefixes of the provider's claims (see claim): a code exchanged, a
// refresh token used, a family revoked, a delivery attempt made.
const (
	claimOIDCCode    = "oidc-code:"
	claimOIDCRefresh = "oidc-refresh:"
	claimOIDCFamily  = "oidc-family:"
	claimOIDCLogout  = "oidc-logout:"
)

func oidcCollections() []string {
	return []string{colOIDCRequests, colOIDCTokens, colOIDCAccountTokens, colOIDCGrants, colOIDCKeys, colOIDCLogouts}
}

func oidcIndexes() []index {
	ttl := func(col, field string) index {
		return index{col, mongo.IndexModel{Keys: bson.D{{Key: field, Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}}
	}
	return []index{
		ttl(colOIDCRequests, "expiresAt"),
		ttl(colOIDCTokens, "expiresAt"),
		{colOIDCTokens, mongo.IndexModel{Keys: bson.D{{Key: "family", Value: 1}}}},
		ttl(colOIDCAccountTokens, "expiresAt"),
		ttl(colOIDCGrants, "expiresAt"),
		ttl(colOIDCKeys, "expiresAt"),
		ttl(colOIDCLogouts, "purgeAt"),
		{colOIDCLogouts, mongo.IndexModel{Keys: bson.D{{Key: "nextAttemptAt", Value: 1}}}},
	}
}

// SweepOIDC deletes the provider's expired documents.
func (s *Store) SweepOIDC(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for col, field := range map[string]string{colOIDCRequests: "expiresAt", colOIDCTokens: "expiresAt", colOIDCAccountTokens: "expiresAt",
		colOIDCGrants: "expiresAt", colOIDCKeys: "expiresAt", colOIDCLogouts: "purgeAt"} {
		n, err := s.sweep(ctx, col, field, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

type oidcRequestDoc struct {
	ID                  string    `bson:"_id"`
	ClientID            string    `bson:"clientId"`
	RedirectURI         string    `bson:"redirectUri"`
	State               string    `bson:"state"`
	Nonce               string    `bson:"nonce"`
	Scopes              []string  `bson:"scopes"`
	ResponseType        string    `bson:"responseType"`
	ResponseMode        string    `bson:"responseMode"`
	CodeChallenge       string    `bson:"codeChallenge"`
	CodeChallengeMethod string    `bson:"codeChallengeMethod"`
	Prompt              []string  `bson:"prompt"`
	MaxAge              int64     `bson:"maxAge"`
	LoginHint           string    `bson:"loginHint"`
	CreatedAt           time.Time `bson:"createdAt"`
	ExpiresAt           time.Time `bson:"expiresAt"`
	AccountID           string    `bson:"accountId"`
	Subject             string    `bson:"subject,omitempty"`
	AuthTime            time.Time `bson:"authTime"`
	Locale              string    `bson:"locale"`
	Done                bool      `bson:"done"`
}

// CreateRequest inserts an authorization request.
func (s OIDC) CreateRequest(ctx context.Context, r oidc.Request) error {
	err := s.insertOne(ctx, colOIDCRequests, oidcRequestDoc{
		ID: r.Key, ClientID: r.ClientID, RedirectURI: r.RedirectURI, State: r.State, Nonce: r.Nonce,
		Scopes: r.Scopes, ResponseType: r.ResponseType, ResponseMode: r.ResponseMode,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod, Prompt: r.Prompt,
		MaxAge: r.MaxAge, LoginHint: r.LoginHint, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		AccountID: r.AccountID, Subject: r.Subject, AuthTime: r.AuthTime, Locale: r.Locale, Done: r.Done,
	})
	if err != nil {
		return fmt.Errorf("store: create oidc request: %w", err)
	}
	return nil
}

// Request reads an authorization request by its key.
func (s OIDC) Request(ctx context.Context, key string) (oidc.Request, error) {
	var d oidcRequestDoc
	err := s.db.Collection(colOIDCRequests).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return oidc.Request{}, oidc.ErrNotFound
	}
	if err != nil {
		return oidc.Request{}, fmt.Errorf("store: get oidc request: %w", err)
	}
	return oidc.Request{
		Key: d.ID, ClientID: d.ClientID, RedirectURI: d.RedirectURI, State: d.State, Nonce: d.Nonce,
		Scopes: d.Scopes, ResponseType: d.ResponseType, ResponseMode: d.ResponseMode,
		CodeChallenge: d.CodeChallenge, CodeChallengeMethod: d.CodeChallengeMethod, Prompt: d.Prompt,
		MaxAge: d.MaxAge, LoginHint: d.LoginHint, CreatedAt: utc(d.CreatedAt), ExpiresAt: utc(d.ExpiresAt),
		AccountID: d.AccountID, Subject: d.Subject, AuthTime: utc(d.AuthTime), Locale: d.Locale, Done: d.Done,
	}, nil
}

// CompleteRequest records the person who answered a request.
func (s OIDC) CompleteRequest(ctx context.Context, key, accountID, subject, locale string, authTime, expires time.Time) error {
	res, err := s.wdb.Collection(colOIDCRequests).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "accountId", Value: accountID}, {Key: "subject", Value: subject}, {Key: "locale", Value: locale},
			{Key: "authTime", Value: authTime}, {Key: "expiresAt", Value: expires}, {Key: "done", Value: true}}}})
	if err != nil {
		return fmt.Errorf("store: complete oidc request: %w", err)
	}
	if res.MatchedCount == 0 {
		return oidc.ErrNotFound
	}
	return nil
}

// DeleteRequest deletes an authorization request.
func (s OIDC) DeleteRequest(ctx context.Context, key string) error {
	if _, err := s.wdb.Collection(colOIDCRequests).DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return fmt.Errorf("store: delete oidc request: %w", err)
	}
	return nil
}

// ClaimCode claims the exchange of a request's code.
func (s OIDC) ClaimCode(ctx context.Context, key string, expires time.Time) (bool, error) {
	return s.claim(ctx, claimOIDCCode+key, expires)
}

type oidcTokenDoc struct {
	ID        string    `bson:"_id"`
	Kind      string    `bson:"kind"`
	Family    string    `bson:"family"`
	ClientID  string    `bson:"clientId"`
	AccountID string    `bson:"accountId"`
	Subject   string    `bson:"subject,omitempty"`
	Scopes    []string  `bson:"scopes"`
	Audience  []string  `bson:"audience"`
	AMR       []string  `bson:"amr"`
	AuthTime  time.Time `bson:"authTime"`
	Locale    string    `bson:"locale"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

// CreateToken inserts a token.
func (s OIDC) CreateToken(ctx context.Context, t oidc.Token) error {
	err := s.insertOne(ctx, colOIDCTokens, oidcTokenDoc{ID: t.Key, Kind: t.Kind, Family: t.Family,
		ClientID: t.ClientID, AccountID: t.AccountID, Subject: t.Subject, Scopes: t.Scopes, Audience: t.Audience, AMR: t.AMR,
		AuthTime: t.AuthTime, Locale: t.Locale, ExpiresAt: t.ExpiresAt})
	if err != nil {
		return fmt.Errorf("store: create oidc token: %w", err)
	}
	_, err = s.wdb.Collection(colOIDCAccountTokens).UpdateOne(ctx, bson.D{{Key: "_id", Value: t.AccountID}}, bson.D{
		{Key: "$addToSet", Value: bson.D{{Key: "keys", Value: t.Key}}},
		{Key: "$max", Value: bson.D{{Key: "expiresAt", Value: t.ExpiresAt}}},
	}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store: list oidc token: %w", err)
	}
	return nil
}

// Token reads a token by its key.
func (s OIDC) Token(ctx context.Context, key string) (oidc.Token, error) {
	var d oidcTokenDoc
	err := s.db.Collection(colOIDCTokens).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return oidc.Token{}, oidc.ErrNotFound
	}
	if err != nil {
		return oidc.Token{}, fmt.Errorf("store: get oidc token: %w", err)
	}
	return oidc.Token{Key: d.ID, Kind: d.Kind, Family: d.Family, ClientID: d.ClientID, AccountID: d.AccountID, Subject: d.Subject,
		Scopes: d.Scopes, Audience: d.Audience, AMR: d.AMR, AuthTime: utc(d.AuthTime), Locale: d.Locale,
		ExpiresAt: utc(d.ExpiresAt)}, nil
}

// DeleteToken deletes a token.
func (s OIDC) DeleteToken(ctx context.Context, key string) error {
	if _, err := s.wdb.Collection(colOIDCTokens).DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
		return fmt.Errorf("store: delete oidc token: %w", err)
	}
	return nil
}

// ClaimRefresh claims the one use of a refresh token.
func (s OIDC) ClaimRefresh(ctx context.Context, key string, expires time.Time) (bool, error) {
	return s.claim(ctx, claimOIDCRefresh+key, expires)
}

// RevokeFamily marks a family revoked, then deletes its tokens. The mark
// comes first: a token inserted during the deletion is caught by the
// issuer's FamilyRevoked check.
func (s OIDC) RevokeFamily(ctx context.Context, family string, expires time.Time) error {
	if _, err := s.claim(ctx, claimOIDCFamily+family, expires); err != nil {
		return err
	}
	if _, err := s.wdb.Collection(colOIDCTokens).DeleteMany(ctx, bson.D{{Key: "family", Value: family}}); err != nil {
		return fmt.Errorf("store: revoke oidc family: %w", err)
	}
	return nil
}

// FamilyRevoked reports whether a family was revoked.
func (s OIDC) FamilyRevoked(ctx context.Context, family string) (bool, error) {
	var d struct {
		ExpiresAt time.Time `bson:"expiresAt"`
	}
	err := s.db.Collection(colClaims).FindOne(ctx, bson.D{{Key: "_id", Value: claimOIDCFamily + family}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: oidc family: %w", err)
	}
	return s.now().Before(d.ExpiresAt), nil
}

// RevokeAccount deletes every token of an account, one by one by _id from
// the account's list: every sign-out, reset and password change calls it,
// and a filter on accountId would read every token of the school on the
// embedded store. The list document goes last, so that a failure leaves
// it for the next try.
func (s OIDC) RevokeAccount(ctx context.Context, accountID string) error {
	var d struct {
		Keys []string `bson:"keys"`
	}
	err := s.db.Collection(colOIDCAccountTokens).FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: revoke oidc tokens: %w", err)
	}
	for _, key := range d.Keys {
		if _, err := s.wdb.Collection(colOIDCTokens).DeleteOne(ctx, bson.D{{Key: "_id", Value: key}}); err != nil {
			return fmt.Errorf("store: revoke oidc tokens: %w", err)
		}
	}
	_, err = s.wdb.Collection(colOIDCAccountTokens).UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "keys", Value: bson.D{{Key: "$in", Value: d.Keys}}}}}})
	if err != nil {
		return fmt.Errorf("store: revoke oidc tokens: %w", err)
	}
	return nil
}

// grantID is a grant's _id: one document per person and application,
// found without scanning.
func grantID(accountID, clientID string) string { return keys.HashToken(accountID + "\x00" + clientID) }

// RecordGrant records (or extends) that a person signed in to a client.
func (s OIDC) RecordGrant(ctx context.Context, accountID, clientID string, expires time.Time) error {
	_, err := s.wdb.Collection(colOIDCGrants).UpdateOne(ctx, bson.D{{Key: "_id", Value: grantID(accountID, clientID)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: expires}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store: record oidc grant: %w", err)
	}
	return nil
}

// TakeGrant deletes a grant and reports whether a live one was there.
func (s OIDC) TakeGrant(ctx context.Context, accountID, clientID string) (bool, error) {
	var d struct {
		ExpiresAt time.Time `bson:"expiresAt"`
	}
	err := s.wdb.Collection(colOIDCGrants).FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: grantID(accountID, clientID)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: take oidc grant: %w", err)
	}
	return s.now().Before(d.ExpiresAt), nil
}

type oidcKeyDoc struct {
	ID        string    `bson:"_id"`
	KeyID     string    `bson:"kid"`
	Algorithm string    `bson:"alg"`
	Sealed    []byte    `bson:"sealed"`
	CreatedAt time.Time `bson:"createdAt"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

// InsertKey stores a signing key unless its generation has one.
func (s OIDC) InsertKey(ctx context.Context, k oidc.SealedKey) error {
	err := s.insertOne(ctx, colOIDCKeys, oidcKeyDoc{ID: k.ID, KeyID: k.KeyID, Algorithm: k.Algorithm,
		Sealed: k.Sealed, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt})
	if mongo.IsDuplicateKeyError(err) {
		return oidc.ErrExists
	}
	if err != nil {
		return fmt.Errorf("store: insert oidc key: %w", err)
	}
	return nil
}

// Key reads a signing key.
func (s OIDC) Key(ctx context.Context, id string) (oidc.SealedKey, error) {
	var d oidcKeyDoc
	// The writer's connection: a key another instance just inserted must
	// be seen by the instance that lost the race.
	err := s.wdb.Collection(colOIDCKeys).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return oidc.SealedKey{}, oidc.ErrNotFound
	}
	if err != nil {
		return oidc.SealedKey{}, fmt.Errorf("store: get oidc key: %w", err)
	}
	return oidc.SealedKey{ID: d.ID, KeyID: d.KeyID, Algorithm: d.Algorithm, Sealed: d.Sealed,
		CreatedAt: utc(d.CreatedAt), ExpiresAt: utc(d.ExpiresAt)}, nil
}

type oidcLogoutDoc struct {
	ID            string    `bson:"_id"`
	ClientID      string    `bson:"clientId"`
	AccountID     string    `bson:"accountId"`
	Attempts      int       `bson:"attempts"`
	NextAttemptAt time.Time `bson:"nextAttemptAt"`
	ExpiresAt     time.Time `bson:"expiresAt"`
	// PurgeAt is past ExpiresAt, so that the worker sees the logout it
	// gives up on before the sweeper deletes it.
	PurgeAt time.Time `bson:"purgeAt"`
}

// QueueLogout queues a back-channel logout.
func (s OIDC) QueueLogout(ctx context.Context, l oidc.Logout) error {
	err := s.insertOne(ctx, colOIDCLogouts, oidcLogoutDoc{ID: l.ID, ClientID: l.ClientID,
		AccountID: l.AccountID, Attempts: l.Attempts, NextAttemptAt: l.NextAttemptAt, ExpiresAt: l.ExpiresAt,
		PurgeAt: l.ExpiresAt.Add(24 * time.Hour)})
	if err != nil {
		return fmt.Errorf("store: queue oidc logout: %w", err)
	}
	return nil
}

// DueLogouts returns the logouts due for an attempt, oldest first.
func (s OIDC) DueLogouts(ctx context.Context, now time.Time, limit int) ([]oidc.Logout, error) {
	cur, err := s.db.Collection(colOIDCLogouts).Find(ctx, bson.D{{Key: "nextAttemptAt", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "nextAttemptAt", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: due oidc logouts: %w", err)
	}
	var docs []oidcLogoutDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("store: due oidc logouts: %w", err)
	}
	out := make([]oidc.Logout, len(docs))
	for i, d := range docs {
		out[i] = oidc.Logout{ID: d.ID, ClientID: d.ClientID, AccountID: d.AccountID, Attempts: d.Attempts,
			NextAttemptAt: utc(d.NextAttemptAt), ExpiresAt: utc(d.ExpiresAt)}
	}
	return out, nil
}

// ClaimLogout claims one delivery attempt.
func (s OIDC) ClaimLogout(ctx context.Context, id string, attempt int, expires time.Time) (bool, error) {
	return s.claim(ctx, fmt.Sprintf("%s%s:%d", claimOIDCLogout, id, attempt), expires)
}

// RescheduleLogout records a failed attempt and when to try again.
func (s OIDC) RescheduleLogout(ctx context.Context, id string, attempts int, next time.Time) error {
	_, err := s.wdb.Collection(colOIDCLogouts).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "attempts", Value: attempts}, {Key: "nextAttemptAt", Value: next}}}})
	if err != nil {
		return fmt.Errorf("store: reschedule oidc logout: %w", err)
	}
	return nil
}

// DeleteLogout deletes a delivered or abandoned logout.
func (s OIDC) DeleteLogout(ctx context.Context, id string) error {
	if _, err := s.wdb.Collection(colOIDCLogouts).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("store: delete oidc logout: %w", err)
	}
	return nil
}
