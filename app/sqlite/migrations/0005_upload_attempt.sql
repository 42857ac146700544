-- The upload attempt that owns a party's claim (uploading) or whose blobs hold its upload
-- (done): a stalled attempt whose claim was retaken can neither record nor release it, and
-- never overwrites the retry's blobs. '' (rows from before): the blobs at the old keys.
ALTER TABLE parties ADD COLUMN attempt TEXT NOT NULL DEFAULT '';
