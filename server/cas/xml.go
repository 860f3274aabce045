package cas

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"time"
)

// Namespace is the CAS protocol's XML namespace.
const Namespace = "http://www.yale.edu/tp/cas"

// Success is what a successful validation answers.
type Success struct {
	User       string
	Attributes []Attribute
	// AuthTime, NewLogin: the protocol's own attributes
	// (authenticationDate, isFromNewLogin).
	AuthTime time.Time
	NewLogin bool
}

// SuccessOf is the answer to a valid ticket: the person's identifier and
// the attributes of the client's profile.
func SuccessOf(v Validation) Success {
	return Success{User: v.Account.Identifier, Attributes: Attributes(v.Client, v.Account),
		AuthTime: v.Ticket.AuthTime, NewLogin: v.Ticket.Renewed}
}

// escape writes s as XML character data.
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// RenderSuccess is the serviceResponse of a valid ticket (protocol
// 2.5.2, with the 3.0 attributes block).
func RenderSuccess(s Success) []byte {
	var b bytes.Buffer
	b.WriteString(`<cas:serviceResponse xmlns:cas="` + Namespace + `">` + "\n")
	b.WriteString("  <cas:authenticationSuccess>\n    <cas:user>")
	escape(&b, s.User)
	b.WriteString("</cas:user>\n    <cas:attributes>\n")
	elem := func(name, v string) {
		b.WriteString("      <cas:" + name + ">")
		escape(&b, v)
		b.WriteString("</cas:" + name + ">\n")
	}
	elem("authenticationDate", s.AuthTime.UTC().Format(time.RFC3339))
	elem("isFromNewLogin", strconv.FormatBool(s.NewLogin))
	elem("longTermAuthenticationRequestTokenUsed", "false")
	for _, a := range s.Attributes {
		for _, v := range a.Values {
			elem(a.Name, v)
		}
	}
	b.WriteString("    </cas:attributes>\n  </cas:authenticationSuccess>\n</cas:serviceResponse>\n")
	return b.Bytes()
}

// RenderFailure is the serviceResponse of a refused validation.
func RenderFailure(code, message string) []byte {
	var b bytes.Buffer
	b.WriteString(`<cas:serviceResponse xmlns:cas="` + Namespace + `">` + "\n")
	b.WriteString(`  <cas:authenticationFailure code="`)
	escape(&b, code)
	b.WriteString(`">`)
	escape(&b, message)
	b.WriteString("</cas:authenticationFailure>\n</cas:serviceResponse>\n")
	return b.Bytes()
}

// RenderValidate is CAS 1.0's answer (/validate): "yes" and the user, or
// "no" and an empty line.
func RenderValidate(v Validation) []byte {
	if !v.OK() {
		return []byte("no\n\n")
	}
	return []byte("yes\n" + v.Account.Identifier + "\n")
}

// RenderLogoutRequest is the SAML LogoutRequest that single logout POSTs
// to a service (protocol 2.3.3), naming the ticket it validated.
func RenderLogoutRequest(id, ticket string, at time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="`)
	escape(&b, id)
	b.WriteString(`" Version="2.0" IssueInstant="` + at.UTC().Format(time.RFC3339) + `">`)
	b.WriteString("<saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>")
	escape(&b, ticket)
	b.WriteString("</samlp:SessionIndex></samlp:LogoutRequest>")
	return b.Bytes()
}
