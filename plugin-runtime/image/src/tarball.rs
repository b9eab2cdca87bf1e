//! Deterministic tar archives: fixed owner, mtime 0, entries in the order given.

/// One entry of a layer.
pub(crate) enum Entry<'a> {
    /// A directory (path without trailing `/`).
    Dir { path: &'a str, mode: u32 },
    /// A regular file.
    File {
        path: &'a str,
        mode: u32,
        bytes: &'a [u8],
    },
}

/// A ustar archive of `entries`, owned by uid/gid 0, mtime 0, with no user or group names.
pub(crate) fn archive(entries: &[Entry<'_>]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::Dir { path, mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), std::io::empty())?;
            }
            Entry::File { path, mode, bytes } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, *bytes)?;
            }
        }
    }
    builder.into_inner()
}
