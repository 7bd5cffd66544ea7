-- Entitle store, version 7: the nonce seed of each lease's tokens.

-- A lease token is signed with a nonce whose costly part was made ahead of
-- time (docs/decisions/0010). The nonce comes from a random seed, and the
-- seed is kept with the state of the lease it signed, so that a retried
-- checkout gets back the very token it was given first, also after a
-- restart. NULL (every lease before this version, and a lease moved to
-- another entitlement): the token is signed with RFC 8032's nonce, derived
-- from the key and the token itself, which needs nothing stored.
ALTER TABLE leases ADD COLUMN token_nonce BLOB;

-- One seed must never sign two different tokens: two Ed25519 signatures made
-- with one nonce give the signing key away. Every statement that changes what
-- a lease's token says must therefore write a new seed or NULL with it; the
-- store refuses one that does not, whatever code sends it.
CREATE TRIGGER leases_token_nonce_signs_one_state
BEFORE UPDATE OF id, host_id, license_jti, entitlement_id, feature, gpu_uuid, vgpu_id, issued_at, expires_at,
                 renewed_at ON leases
WHEN NEW.token_nonce IS NOT NULL AND NEW.token_nonce IS OLD.token_nonce
     AND (NEW.id, NEW.host_id, NEW.license_jti, NEW.entitlement_id, NEW.feature, NEW.gpu_uuid, NEW.vgpu_id,
          NEW.issued_at, NEW.expires_at, NEW.renewed_at)
         IS NOT (OLD.id, OLD.host_id, OLD.license_jti, OLD.entitlement_id, OLD.feature, OLD.gpu_uuid, OLD.vgpu_id,
                 OLD.issued_at, OLD.expires_at, OLD.renewed_at)
BEGIN
    SELECT RAISE(ABORT, 'a lease''s token nonce would sign a second, different token; write a new one or NULL');
END;
