-- The chunks of a list wait here only until its last one arrives, then are read back once
-- and deleted in the same transaction. Compressing them on the way in and decompressing
-- them on the way out cost CPU on the path from a list to its bank instructions and saved
-- only disk the rows give back minutes later, so they are stored as they come.
ALTER TABLE list_chunks ALTER COLUMN payload SET STORAGE EXTERNAL;
