-- The data set of the API comparison (bench/api.sh): 10 vendors, each with
-- one program, 1,000 partners and 100,000 referrals (1M in all), written
-- straight into a database our migrations built. PostgreSQL only.
--   psql -v ON_ERROR_STOP=1 -d DB -f bench/seed.sql      (about a minute)
INSERT INTO organization (name, kind, intake_suspended, created_at)
SELECT 'Vendor ' || g, 'VENDOR', false, now() - interval '400 days' FROM generate_series(1, 10) g;

INSERT INTO program (vendor_org_id, name, currency, lapse_after_days, acceptance_window_days, report_back_days,
                     reward_model, reward_amount_minor, reward_basis_points, reward_trigger, hold_days,
                     minimum_payout_minor, stages, default_stage_editor, created_at, updated_at)
SELECT o.id, 'Main', 'USD', 30, 7, 14, 'FLAT', 10000, 0, 'APPROVED', 0, 0,
       '["Discovery","Demo","Proposal","Negotiation","Closed won","Closed lost"]', 'VENDOR', o.created_at, o.created_at
FROM organization o WHERE o.kind = 'VENDOR';

INSERT INTO partner (program_id, vendor_org_id, name, status, stage_editor, invite_code, referral_code, version,
                     created_at, updated_at)
SELECT p.id, p.vendor_org_id, 'Partner ' || g, (ARRAY['PROSPECT','LIVE','ACTIVE','LAPSED'])[1 + g % 4], 'VENDOR',
       'INV' || p.id || '-' || g, 'REF' || p.id || '-' || g, 1, now() - interval '300 days', now() - interval '300 days'
FROM program p CROSS JOIN generate_series(1, 1000) g;

CREATE TEMP TABLE np AS SELECT id, program_id, vendor_org_id,
  row_number() OVER (PARTITION BY program_id ORDER BY id) - 1 AS n FROM partner;
CREATE INDEX ON np (program_id, n);

INSERT INTO referral (vendor_org_id, program_id, partner_id, reference_id, external_id, direction, source, status,
                      ever_qualified, lead_name, lead_email, currency, recurring, payout_view, version, created_at,
                      updated_at)
SELECT np.vendor_org_id, np.program_id, np.id, 'R-' || lpad(g::text, 7, '0'), 'EXT-' || g, 'INBOUND', 'API',
       (ARRAY['PENDING','QUALIFIED','APPROVED','DENIED'])[1 + g % 4], g % 4 > 0, 'Lead ' || g,
       'lead' || g || '@example.com', 'USD', false, 'NONE', 1,
       timestamptz '2025-01-01' + g * interval '30 seconds', timestamptz '2025-01-01' + g * interval '30 seconds'
FROM program pr
CROSS JOIN generate_series(1, 100000) g
JOIN np ON np.program_id = pr.id AND np.n = (g::bigint * 7919) % 1000;

VACUUM ANALYZE organization;
VACUUM ANALYZE partner;
VACUUM ANALYZE referral;
