import Testing

@testable import Tensors

@Suite struct TensorTests {
  @Test func shapesAndCounts() {
    let t = Tensor(zeros: [2, 3, 4])
    #expect(t.count == 24)
    #expect(t.rank == 3)
    var m = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
    #expect(m[1, 0] == 3)
    m[0, 1] = 9
    #expect(m.data == [1, 9, 3, 4])
    #expect(m.reshaped([4]).shape == [4])
    #expect(Tensor(shape: [], data: [5]).count == 1)
  }
}
