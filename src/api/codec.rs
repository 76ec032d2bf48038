//! prost over gRPC with small stream buffers. tonic starts each stream's encode and decode
//! buffers at 8 KiB and keeps them as large as the largest message; a controller holds one
//! of each for every subscribed proxy (about 13 KB a proxy with 8 KiB discovery parts). The
//! messages are small (acks and a CSR one way, discovery parts cut to fit `BUFFER` the
//! other), so 4 KiB holds what is sent and 1 KiB what is received.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// A stream's encoding buffer; a larger message grows it.
pub const BUFFER: usize = 4 * 1024;
/// A stream's decoding buffer: acks, nacks and CSRs to the controller; a proxy's grows once
/// to the size of a discovery part.
const DECODE_BUFFER: usize = 1024;

/// The codec the generated clients and servers use (`build.rs` names it).
#[derive(Debug)]
pub struct SmallBuffers<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBuffers<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SmallBuffers<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        // Yield after every message (tonic's default gathers 32 KiB): queued discovery parts
        // encoded together grew the buffer of every stream sending a full snapshot.
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER, BUFFER))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(DECODE_BUFFER, DECODE_BUFFER))
    }
}
