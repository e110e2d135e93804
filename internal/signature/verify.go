package signature

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Signer describes the key that made an accepted signature.
type Signer struct {
	// KeyID is the 16-hex-digit ID of the key that made the signature
	// (a subkey when a signing subkey was used), upper case.
	KeyID string
	// Fingerprint is the fingerprint of the signer's primary key, upper-case hex.
	Fingerprint string
	// Identity is the signer's primary user ID, such as
	// "Debian Stable Release Key (12/bookworm) <debian-release@lists.debian.org>".
	Identity string
	// Created is when the signature was made, as the signature says.
	Created time.Time
}

// weakHashes are the digests rejected for data signatures; see the package
// documentation for the policy.
var weakHashes = map[crypto.Hash]string{
	crypto.MD5:       "MD5",
	crypto.SHA1:      "SHA-1",
	crypto.RIPEMD160: "RIPEMD-160",
}

// VerifyDetached checks a detached signature (armored or binary, such as
// Release.gpg or repomd.xml.asc) over the bytes read from signed.
func (k *Keyring) VerifyDetached(signed io.Reader, sig io.Reader) (*Signer, error) {
	sigData, err := readAll(sig, maxSignatureBytes, "signature")
	if err != nil {
		return nil, err
	}
	packets, err := dearmorSignature(sigData)
	if err != nil {
		return nil, err
	}
	data, err := readAll(signed, maxSignedBytes, "signed data")
	if err != nil {
		return nil, err
	}
	return k.verify(data, packets)
}

// VerifyClearsigned checks a clearsigned message such as APT's InRelease and
// returns its body: the signed text with dash-escaping undone and a final
// newline, ready for a metadata parser. Text before the message or after its
// signature is refused rather than ignored, so that nothing unsigned can be
// mistaken for signed content.
func (k *Keyring) VerifyClearsigned(data []byte) (body []byte, signer *Signer, err error) {
	block, err := decodeClearsigned(data)
	if err != nil {
		return nil, nil, err
	}
	if block == nil {
		return nil, nil, fmt.Errorf("%w: the data is not a clearsigned message (no BEGIN PGP SIGNED MESSAGE line)", ErrMissingSignature)
	}
	packets, err := readAll(block.ArmoredSignature.Body, maxSignatureBytes, "signature")
	if err != nil {
		return nil, nil, err
	}
	signer, err = k.verify(block.Bytes, packets)
	if err != nil {
		return nil, nil, err
	}
	return clearsignedText(block), signer, nil
}

// ClearsignedBody returns the body of a clearsigned message WITHOUT checking
// its signature, for repositories the user chose not to verify. Data that is
// not a clearsigned message (a plain Release file) is returned unchanged; a
// damaged clearsigned message is an error.
func ClearsignedBody(data []byte) ([]byte, error) {
	block, err := decodeClearsigned(data)
	if err != nil {
		return nil, err
	}
	if block == nil {
		return data, nil
	}
	return clearsignedText(block), nil
}

var beginSignedMessage = []byte("-----BEGIN PGP SIGNED MESSAGE-----")

// decodeClearsigned parses a clearsigned message; it returns nil and no
// error when data is not one at all.
func decodeClearsigned(data []byte) (block *clearsign.Block, err error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, beginSignedMessage) {
		if bytes.Contains(data, beginSignedMessage) {
			return nil, fmt.Errorf("%w: text before the BEGIN PGP SIGNED MESSAGE line", ErrMalformed)
		}
		return nil, nil
	}
	// clearsign.Decode in go-crypto v1.3.0 slices out of range on a message
	// with an empty body; turn that into an error instead of a crash.
	defer func() {
		if r := recover(); r != nil {
			block, err = nil, fmt.Errorf("%w: clearsigned message cannot be parsed", ErrMalformed)
		}
	}()
	block, rest := clearsign.Decode(trimmed)
	if block == nil {
		return nil, fmt.Errorf("%w: clearsigned message is incomplete or damaged (check the header, the blank line after it and the signature block)", ErrMalformed)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: text after the END PGP SIGNATURE line", ErrMalformed)
	}
	if block.ArmoredSignature.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("%w: clearsigned message ends in a %q block, want %q", ErrMalformed, block.ArmoredSignature.Type, openpgp.SignatureType)
	}
	return block, nil
}

// clearsignedText is the signed text of block as a file: lines end in "\n".
func clearsignedText(block *clearsign.Block) []byte {
	body := make([]byte, 0, len(block.Plaintext)+1)
	body = append(body, block.Plaintext...)
	if len(body) > 0 {
		body = append(body, '\n')
	}
	return body
}

func readAll(r io.Reader, limit int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, what, limit)
	}
	return data, nil
}

// dearmorSignature returns the binary packets of a detached signature that
// is either armored or binary already.
func dearmorSignature(data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: the signature is empty", ErrMissingSignature)
	}
	if !bytes.HasPrefix(trimmed, armorPrefix) {
		return data, nil
	}
	block, err := armor.Decode(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("%w: armored signature: %v", ErrMalformed, err)
	}
	if block.Type != openpgp.SignatureType {
		return nil, fmt.Errorf("%w: armored block is a %q, want a %q", ErrMalformed, block.Type, openpgp.SignatureType)
	}
	packets, err := readAll(block.Body, maxSignatureBytes, "signature")
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: armored signature: %v", ErrMalformed, err)
	}
	return packets, nil
}

// verify checks every signature packet in packets over data and applies the
// policy in the package documentation.
func (k *Keyring) verify(data, packets []byte) (*Signer, error) {
	raws, err := splitPackets(packets)
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("%w: the signature holds no packets", ErrMissingSignature)
	}
	config := &packet.Config{Time: k.now}
	var (
		good    *Signer
		bad     []error
		other   []error
		unknown []string
	)
	for _, raw := range raws {
		p, err := packet.Read(bytes.NewReader(raw))
		if err != nil {
			other = append(other, fmt.Errorf("%w: signature packet: %v", ErrMalformed, err))
			continue
		}
		parsed, ok := p.(*packet.Signature)
		if !ok {
			other = append(other, fmt.Errorf("%w: found a %T where a signature packet belongs", ErrMalformed, p))
			continue
		}
		issuer := "(no issuer)"
		if parsed.IssuerKeyId != nil {
			issuer = fmt.Sprintf("%016X", *parsed.IssuerKeyId)
		}
		sig, entity, err := openpgp.VerifyDetachedSignature(k.entities, bytes.NewReader(data), bytes.NewReader(raw), config)
		if err != nil {
			reason := classify(err)
			switch {
			case errors.Is(reason, ErrUnknownKey):
				unknown = append(unknown, issuer)
			case errors.Is(reason, ErrBadSignature):
				bad = append(bad, fmt.Errorf("%w by key %s%s: the data does not match its signature; it was altered or truncated", reason, issuer, identityOf(entity)))
			default:
				other = append(other, fmt.Errorf("%w: key %s%s", reason, issuer, identityOf(entity)))
			}
			continue
		}
		if name, weak := weakHashes[sig.Hash]; weak {
			other = append(other, fmt.Errorf("%w: key %s%s signed with %s; the repository must sign with SHA-256 or stronger", ErrWeakHash, issuer, identityOf(entity), name))
			continue
		}
		if good == nil {
			good = newSigner(sig, entity)
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	if good != nil {
		return good, nil
	}
	if len(unknown) > 0 {
		other = append(other, fmt.Errorf("%w: signed by key ID %s; add the repository's public key to the keyring, or check the repository URL", ErrUnknownKey, strings.Join(unknown, ", ")))
	}
	return nil, errors.Join(other...)
}

// classify maps a go-crypto verification error onto this package's sentinels.
func classify(err error) error {
	var sigErr pgperrors.SignatureError
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return ErrUnknownKey
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return ErrExpiredKey
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return ErrExpiredSignature
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return ErrRevokedKey
	case errors.As(err, &sigErr):
		return ErrBadSignature
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

func identityOf(e *openpgp.Entity) string {
	if e == nil {
		return ""
	}
	if id := e.PrimaryIdentity(); id != nil {
		return " (" + id.Name + ")"
	}
	return ""
}

func newSigner(sig *packet.Signature, e *openpgp.Entity) *Signer {
	s := &Signer{
		Fingerprint: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint),
		Created:     sig.CreationTime,
	}
	if sig.IssuerKeyId != nil {
		s.KeyID = fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	if id := e.PrimaryIdentity(); id != nil {
		s.Identity = id.Name
	}
	return s
}

// splitPackets cuts a binary OpenPGP packet stream into whole packets
// (RFC 9580 section 4.2). Signature packets never use partial body lengths,
// so those, like old-format indeterminate lengths, are refused.
func splitPackets(data []byte) ([][]byte, error) {
	var packets [][]byte
	for len(data) > 0 {
		tag := data[0]
		if tag&0x80 == 0 {
			return nil, fmt.Errorf("%w: byte %#02x does not start an OpenPGP packet; is this really a signature?", ErrMalformed, tag)
		}
		var header, length int
		if tag&0x40 != 0 { // new-format header
			if len(data) < 2 {
				return nil, fmt.Errorf("%w: truncated packet header", ErrMalformed)
			}
			switch first := data[1]; {
			case first < 192:
				header, length = 2, int(first)
			case first < 224:
				if len(data) < 3 {
					return nil, fmt.Errorf("%w: truncated packet header", ErrMalformed)
				}
				header, length = 3, (int(first)-192)<<8+int(data[2])+192
			case first == 255:
				if len(data) < 6 {
					return nil, fmt.Errorf("%w: truncated packet header", ErrMalformed)
				}
				header, length = 6, int(binary.BigEndian.Uint32(data[2:6]))
			default:
				return nil, fmt.Errorf("%w: partial-length packet in a signature", ErrMalformed)
			}
		} else { // old-format header
			switch tag & 3 {
			case 0:
				header = 2
			case 1:
				header = 3
			case 2:
				header = 5
			default:
				return nil, fmt.Errorf("%w: indeterminate-length packet in a signature", ErrMalformed)
			}
			if len(data) < header {
				return nil, fmt.Errorf("%w: truncated packet header", ErrMalformed)
			}
			for _, b := range data[1:header] {
				length = length<<8 | int(b)
			}
		}
		if length > len(data)-header {
			return nil, fmt.Errorf("%w: truncated packet (%d bytes announced, %d present)", ErrMalformed, length, len(data)-header)
		}
		packets = append(packets, data[:header+length])
		data = data[header+length:]
	}
	return packets, nil
}
