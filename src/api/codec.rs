//! prost over gRPC with small stream buffers. tonic starts each stream's encode and decode
//! buffers at 8 KiB and keeps them as large as the largest message; a controller holds one
//! of each for every subscribed proxy (about 13 KB a proxy with 8 KiB discovery parts). The
//! messages are small (acks, a CSR, discovery parts cut to fit `BUFFER`), so 4 KiB holds them.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// A stream's buffer, each way; a larger message grows it.
pub const BUFFER: usize = 4 * 1024;
/// tonic's default: how much is encoded before the stream yields to others.
const YIELD_THRESHOLD: usize = 32 * 1024;

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
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER, YIELD_THRESHOLD)
}
